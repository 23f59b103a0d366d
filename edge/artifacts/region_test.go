package artifacts_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// A stand-in for S3's answer to a request signed for the wrong region,
// which moto does not give: 301 with x-amz-bucket-region, and the object
// only to requests signed for eu-west-1.
func TestABucketInAnotherRegionIsFoundFromS3sAnswer(t *testing.T) {
	const body = "artifact in eu-west-1"
	var wrong atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/s3/aws4_request") {
			wrong.Add(1)
			w.Header().Set("x-amz-bucket-region", "eu-west-1")
			w.WriteHeader(http.StatusMovedPermanently)
			_, _ = w.Write([]byte(`<Error><Code>PermanentRedirect</Code><Message>use the bucket's region</Message></Error>`))
			return
		}
		w.Header().Set("ETag", `"e1"`)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	cfg := moto.Config() // us-east-1, static credentials
	cfg.BaseEndpoint = aws.String(srv.URL)
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.bin")
	if _, err := d.Download(context.Background(), "s3://eu-bucket/a.bin", path, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != body {
		t.Fatalf("downloaded %q", data)
	}
	if _, err := d.Download(context.Background(), "s3://eu-bucket/a.bin", filepath.Join(t.TempDir(), "b.bin"), nil); err != nil {
		t.Fatal(err)
	}
	if n := wrong.Load(); n != 1 {
		t.Fatalf("%d requests signed for the wrong region, want 1 (then the bucket's region is remembered)", n)
	}
}
