package artifacts_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sward-iot/sward/edge/artifacts"
)

// BenchmarkDownload5x2MB downloads five 2 MB objects from moto on
// loopback at once, as one deployment's artifacts (the Downloader runs
// DefaultConcurrency of them at a time), each into a fresh file and
// hashed: MB/s is the deployment's download throughput.
func BenchmarkDownload5x2MB(b *testing.B) {
	const n, size = 5, 2 << 20
	uris := make([]string, n)
	for i := range uris {
		key := fmt.Sprintf("bench/%d.bin", i)
		objectB(b, "dl-bench", key, size)
		uris[i] = "s3://dl-bench/" + key
	}
	cfg := moto.Config()
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		var wg sync.WaitGroup
		for j, uri := range uris {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := d.Download(context.Background(), uri, filepath.Join(dir, fmt.Sprint(j)), nil); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}
