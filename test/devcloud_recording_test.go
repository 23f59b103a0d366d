package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/test/harness"
)

// TestDevcloudRestartsAfterRequestsAnsweredAtOnceAndKeepsTheirObjects: moto
// writes each recorded request and its newline separately from each of its
// request threads, so uploads answered at the same time (what `sward
// publish` does beside the Lambdas' calls in make dev) can share a line of
// the recording, and moto's replay of such a file fails whole. devcloud
// puts the recording back in shape before the replay: the second `up`
// starts and every object is there.
func TestDevcloudRestartsAfterRequestsAnsweredAtOnceAndKeepsTheirObjects(t *testing.T) {
	template := harness.SynthTemplate(t)
	data := t.TempDir()
	first := harness.StartDevcloud(t, template, data)
	cfg := first.Info.AWSConfig()
	cfg.BaseEndpoint = aws.String(first.Info.Endpoints.S3)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "sward-artifacts-" + first.Info.AccountID + "-" + first.Info.Region
	ctx := context.Background()

	// Bursts of large and small uploads at once, until the recording shows
	// two requests on a line (moto's threads do not always collide).
	var keys []string
	var mu sync.Mutex
	shared := 0
	for burst := 0; burst < 5 && shared == 0; burst++ {
		var wg sync.WaitGroup
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				size, n := 16, 15
				if w < 3 {
					size, n = 2<<20, 1
				}
				for i := range n {
					key := fmt.Sprintf("burst%d/worker%d/%d", burst, w, i)
					if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
						Body: bytes.NewReader(bytes.Repeat([]byte{'x'}, size))}); err != nil {
						t.Errorf("put %s: %v", key, err)
						return
					}
					mu.Lock()
					keys = append(keys, key)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		shared = linesNotOneRequest(t, filepath.Join(data, devcloud.MotoRecordingFile))
	}
	t.Logf("%d objects uploaded; %d lines of the recording were not one request", len(keys), shared)
	first.Stop()

	second := harness.StartDevcloud(t, template, data)
	cfg = second.Info.AWSConfig()
	cfg.BaseEndpoint = aws.String(second.Info.Endpoints.S3)
	s3c = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, key := range keys {
		if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Errorf("%s, uploaded before the restart: %v", key, err)
		}
	}
}

// linesNotOneRequest counts the lines of a moto recording that are not
// one JSON request (two on a line, or empty).
func linesNotOneRequest(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	bad := 0
	for sc.Scan() {
		var v map[string]any
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return bad
}
