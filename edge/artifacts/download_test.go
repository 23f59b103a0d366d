package artifacts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

var moto *testutil.Moto

func TestMain(m *testing.M) {
	var err error
	if moto, err = testutil.StartMoto(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

// object uploads size random bytes to bucket/key in moto and returns them.
func object(t *testing.T, bucket, key string, size int) []byte { return objectB(t, bucket, key, size) }

func objectB(t testing.TB, bucket, key string, size int) []byte {
	t.Helper()
	c := s3.NewFromConfig(moto.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil &&
		!strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		t.Fatal(err)
	}
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	return data
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// downloader talks to endpoint (moto, or a proxy in front of it) with
// short backoffs.
func downloader(t *testing.T, endpoint string) *artifacts.Downloader {
	t.Helper()
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(endpoint)
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// gets are the GetObject requests moto recorded for key since
// StartRecording, with their Range and If-Match headers.
func gets(t *testing.T, key string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, r := range moto.Recorded(t) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/"+key) {
			h := map[string]string{}
			for k, v := range r.Header {
				h[strings.ToLower(k)] = v
			}
			out = append(out, h)
		}
	}
	return out
}

// rangeStart is where a "bytes=N-" Range header starts, -1 without one.
func rangeStart(t *testing.T, h map[string]string) int64 {
	t.Helper()
	r, ok := h["range"]
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r, "bytes="), "-"), 10, 64)
	if err != nil {
		t.Fatalf("Range %q: %v", r, err)
	}
	return n
}

func TestADownloadWritesTheObjectAndReturnsItsDigest(t *testing.T) {
	data := object(t, "dl-ok", "app/1.0.0/app.bin", 2<<20)
	d := downloader(t, moto.URL)
	path := filepath.Join(t.TempDir(), "app.bin")
	var last, total int64
	got, err := d.Download(context.Background(), "s3://dl-ok/app/1.0.0/app.bin", path, func(done, tot int64) { last, total = done, tot })
	if err != nil {
		t.Fatal(err)
	}
	if got != digest(data) {
		t.Fatalf("digest %s, want %s", got, digest(data))
	}
	if written, _ := os.ReadFile(path); !bytes.Equal(written, data) {
		t.Fatalf("the file holds %d bytes, not the object's %d", len(written), len(data))
	}
	if last != int64(len(data)) || total != int64(len(data)) {
		t.Fatalf("last progress %d of %d, want %d of %d", last, total, len(data), len(data))
	}
	if left, _ := filepath.Glob(path + ".partial*"); len(left) > 0 {
		t.Fatalf("partial files left behind: %v", left)
	}
	size, err := d.Size(context.Background(), "s3://dl-ok/app/1.0.0/app.bin")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Size: %d %v, want %d", size, err, len(data))
	}
}

func TestACutLinkResumesFromWhereItStoppedAndTheBytesAreTheObjects(t *testing.T) {
	const size = 2 << 20
	data := object(t, "dl-cut", "big.bin", size)
	proxy := testutil.StartProxy(t, strings.TrimPrefix(moto.URL, "http://"))
	proxy.SetRate(4 << 20) // half a second for the object, so the cut lands inside it
	d := downloader(t, "http://"+proxy.Addr)
	moto.StartRecording(t)
	var once sync.Once
	var cutAt int64
	progress := func(done, _ int64) {
		if done >= size/4 {
			once.Do(func() {
				cutAt = done
				proxy.Cut()
				time.AfterFunc(300*time.Millisecond, proxy.Restore)
			})
		}
	}
	path := filepath.Join(t.TempDir(), "big.bin")
	got, err := d.Download(context.Background(), "s3://dl-cut/big.bin", path, progress)
	if err != nil {
		t.Fatal(err)
	}
	if got != digest(data) {
		t.Fatalf("digest after the resume %s, want %s", got, digest(data))
	}
	reqs := gets(t, "big.bin")
	if len(reqs) < 2 {
		t.Fatalf("%d GETs: the cut did not interrupt the download (cut at %d bytes)", len(reqs), cutAt)
	}
	if start := rangeStart(t, reqs[0]); start != -1 {
		t.Fatalf("the first GET asked for a range from %d", start)
	}
	resume := reqs[len(reqs)-1]
	start := rangeStart(t, resume)
	if start < cutAt || start >= size {
		t.Fatalf("the resuming GET starts at %d, want between the cut (%d) and the end (%d)", start, cutAt, size)
	}
	if resume["if-match"] == "" {
		t.Fatalf("the resuming GET has no If-Match: %v", resume)
	}
}

func TestADownloadLeftByAStoppedNucleusResumesInTheNextOne(t *testing.T) {
	const size = 2 << 20
	data := object(t, "dl-restart", "app.zip", size)
	proxy := testutil.StartProxy(t, strings.TrimPrefix(moto.URL, "http://"))
	proxy.SetRate(4 << 20)
	path := filepath.Join(t.TempDir(), "app.zip")

	// The first nucleus stops (its context ends) a quarter of the way in.
	ctx, stop := context.WithCancel(context.Background())
	var stoppedAt int64
	_, err := downloader(t, "http://"+proxy.Addr).Download(ctx, "s3://dl-restart/app.zip", path, func(done, _ int64) {
		if done >= size/4 && stoppedAt == 0 {
			stoppedAt = done
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the stopped download returned %v", err)
	}
	fi, err := os.Stat(path + ".partial")
	if err != nil || fi.Size() < stoppedAt || fi.Size() >= size {
		t.Fatalf("partial file after the stop: %v, %v; want between %d and %d bytes", fi, err, stoppedAt, size)
	}

	// The next one asks only for the rest.
	moto.StartRecording(t)
	next := downloader(t, moto.URL)
	if have := next.Partial("s3://dl-restart/app.zip", path); have != fi.Size() {
		t.Fatalf("Partial says %d bytes, the file holds %d", have, fi.Size())
	}
	got, err := next.Download(context.Background(), "s3://dl-restart/app.zip", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != digest(data) {
		t.Fatalf("digest %s, want %s", got, digest(data))
	}
	reqs := gets(t, "app.zip")
	if len(reqs) != 1 || rangeStart(t, reqs[0]) != fi.Size() {
		t.Fatalf("GETs after the restart %v, want one from byte %d", reqs, fi.Size())
	}
}

func TestAnObjectReplacedSinceThePartialDownloadIsDownloadedAgainWhole(t *testing.T) {
	object(t, "dl-changed", "app.bin", 1<<20)
	proxy := testutil.StartProxy(t, strings.TrimPrefix(moto.URL, "http://"))
	proxy.SetRate(4 << 20)
	path := filepath.Join(t.TempDir(), "app.bin")
	ctx, stop := context.WithCancel(context.Background())
	_, _ = downloader(t, "http://"+proxy.Addr).Download(ctx, "s3://dl-changed/app.bin", path, func(done, _ int64) {
		if done >= 256<<10 {
			stop()
		}
	})
	if fi, err := os.Stat(path + ".partial"); err != nil || fi.Size() == 0 {
		t.Fatalf("no partial file: %v", err)
	}
	replaced := object(t, "dl-changed", "app.bin", 1<<20)
	got, err := downloader(t, moto.URL).Download(context.Background(), "s3://dl-changed/app.bin", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != digest(replaced) {
		t.Fatalf("digest %s is not the replacement's %s: bytes of two objects were joined", got, digest(replaced))
	}
}

func TestALinkThatGoesSilentIsGivenUpAfterTheIdleTimeoutAndResumed(t *testing.T) {
	const size = 2 << 20
	data := object(t, "dl-stall", "app.bin", size)
	proxy := testutil.StartProxy(t, strings.TrimPrefix(moto.URL, "http://"))
	proxy.SetRate(4 << 20)
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String("http://" + proxy.Addr)
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, IdleTimeout: 300 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	moto.StartRecording(t)
	var once sync.Once
	var stalledAt int64
	got, err := d.Download(context.Background(), "s3://dl-stall/app.bin", filepath.Join(t.TempDir(), "app.bin"), func(done, _ int64) {
		if done >= size/4 {
			once.Do(func() {
				stalledAt = done
				proxy.Stall()
				time.AfterFunc(time.Second, proxy.Restore)
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != digest(data) {
		t.Fatalf("digest %s, want %s", got, digest(data))
	}
	reqs := gets(t, "app.bin")
	if len(reqs) < 2 || rangeStart(t, reqs[len(reqs)-1]) < stalledAt {
		t.Fatalf("GETs %v: want a second one resuming at or after byte %d", reqs, stalledAt)
	}
}

func TestAMissingObjectFailsAtOnceNamingBucketKeyAndFix(t *testing.T) {
	object(t, "dl-missing", "other.bin", 10)
	d := downloader(t, moto.URL)
	moto.StartRecording(t)
	_, err := d.Download(context.Background(), "s3://dl-missing/app/1.0.0/app.bin", filepath.Join(t.TempDir(), "app.bin"), nil)
	if !errors.Is(err, artifacts.ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	for _, want := range []string{`bucket "dl-missing"`, `"app/1.0.0/app.bin"`, "sward publish"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if n := len(gets(t, "app.bin")); n != 1 {
		t.Fatalf("%d GETs for a missing object, want 1 (no retries)", n)
	}
	if _, err := d.Size(context.Background(), "s3://dl-missing/nothing"); !errors.Is(err, artifacts.ErrNotFound) {
		t.Fatalf("Size of a missing object: %v", err)
	}
}

func TestAForbiddenObjectFailsAtOnceNamingBucketKeyAndTheFix(t *testing.T) {
	// This moto serves the bucket's creation and upload, then checks
	// credentials: the downloader's are unknown to it, and S3 says 403.
	strict, err := testutil.StartMoto("INITIAL_NO_AUTH_ACTION_COUNT=2")
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Stop()
	c := s3.NewFromConfig(strict.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("locked")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("locked"), Key: aws.String("app.bin"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	cfg := strict.Config()
	// A retry would wait at least 2.5 s (half the minimum backoff).
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, MinBackoff: 5 * time.Second, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.Download(ctx, "s3://locked/app.bin", filepath.Join(t.TempDir(), "app.bin"), nil)
	if !errors.Is(err, artifacts.ErrAccessDenied) {
		t.Fatalf("error %v, want ErrAccessDenied", err)
	}
	for _, want := range []string{`bucket "locked"`, `"app.bin"`, "s3:GetObject on arn:aws:s3:::locked/app.bin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a 403 took %s: it was retried", took)
	}
}

func TestAnUnreachableEndpointIsRetriedThenFailsNamingTheAttempts(t *testing.T) {
	proxy := testutil.StartProxy(t, strings.TrimPrefix(moto.URL, "http://"))
	proxy.Cut()
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String("http://" + proxy.Addr)
	d, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, Attempts: 3, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Download(context.Background(), "s3://b/k", filepath.Join(t.TempDir(), "k"), nil)
	if err == nil || !strings.Contains(err.Error(), "3 attempts in a row failed") || errors.Is(err, artifacts.ErrNotFound) {
		t.Fatalf("error %v, want 3 failed attempts", err)
	}
}

func TestURIsThatNameNoObjectAreRefused(t *testing.T) {
	for _, uri := range []string{"s3://bucket-only.zip", "s3://b/", "s3://b/dir/", "https://b/k", "s3:///k"} {
		if _, err := artifacts.ParseURI(uri); err == nil {
			t.Errorf("%s parsed", uri)
		}
	}
	loc, err := artifacts.ParseURI("s3://b/a/b.zip")
	if err != nil || loc.Bucket != "b" || loc.Key != "a/b.zip" {
		t.Fatalf("%+v %v", loc, err)
	}
}
