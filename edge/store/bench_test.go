package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/shared/recipe"
)

// BenchmarkFetchAndInstall5x2MB is a deployment's artifact stage for five
// components with one 2 MB s3:// artifact each, from moto on loopback:
// sizes asked, downloads (three at a time), digests checked, and each
// version installed (moved into place and hashed again). Each iteration
// installs into a fresh store.
func BenchmarkFetchAndInstall5x2MB(b *testing.B) {
	const n, size = 5, 2 << 20
	m, err := testutil.StartMoto()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Stop)
	c := s3.NewFromConfig(m.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	var wants []Want
	for i := range n {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		name := fmt.Sprintf("com.example.C%d", i)
		key := name + "/1.0.0/app.bin"
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
		wants = append(wants, Want{Recipe: &recipe.Recipe{File: name + ".yaml", Name: name, Version: "1.0.0"},
			Selection: &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://bench/" + key, Digest: digest(data)}}}})
	}
	dl, err := artifacts.New(artifacts.Options{AWS: m.Config(), PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * size)
	b.ResetTimer()
	for range b.N {
		s := Open(Options{Root: b.TempDir(), Downloader: dl})
		if err := s.Fetch(ctx, wants, nil); err != nil {
			b.Fatal(err)
		}
		for _, w := range wants {
			if _, err := s.Install(w.Recipe, w.Selection, ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}
