package deployment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/store"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// s3World is moto as S3 behind a proxy a test can cut.
type s3World struct {
	t     *testing.T
	moto  *testutil.Moto
	proxy *testutil.Proxy
	s3    *s3.Client
}

// script is a component's artifact: a shell script that writes what it
// says into the file named by its first argument, padded to about size
// bytes with a comment line.
func script(says string, size int) []byte {
	body := fmt.Sprintf("echo %q > \"$1\"\n#", says)
	return append([]byte(body), append(bytes.Repeat([]byte("x"), max(size-len(body)-1, 0)), '\n')...)
}

func b64sha(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// put uploads data to s3://bucket/key.
func (w *s3World) put(bucket, key string, data []byte) {
	w.t.Helper()
	ctx := context.Background()
	if _, err := w.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil &&
		!strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		w.t.Fatal(err)
	}
	if _, err := w.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		w.t.Fatal(err)
	}
}

// s3Recipe writes a recipe of name@version whose one artifact is uri with
// digest, run as `sh run.sh {work:path}/seen.txt` (then exit with code
// fail, or sleep).
func s3Recipe(t *testing.T, dir, name, version, uri, digest string, fail int) {
	t.Helper()
	run := "sh {artifacts:path}/run.sh {work:path}/seen.txt; exec sleep 300"
	if fail != 0 {
		run = fmt.Sprintf("sh {artifacts:path}/run.sh {work:path}/seen.txt; exit %d", fail)
	}
	text := fmt.Sprintf(`RecipeFormatVersion: '2020-01-25'
ComponentName: %s
ComponentVersion: '%s'
Manifests:
  - Lifecycle:
      Run: %q
    Artifacts:
      - URI: %s
        Digest: %s
        Algorithm: SHA-256
`, name, version, run, uri, digest)
	if err := os.WriteFile(filepath.Join(dir, name+"-"+version+".yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// downloadingDevice is a device whose store downloads through w's proxy
// with short backoffs and a size cap of maxSize (0: the default),
// wrapped by wrap when given.
func (w *s3World) device(maxSize int64, wrap func(store.Downloader) store.Downloader) *device {
	w.t.Helper()
	cfg := w.moto.Config()
	cfg.BaseEndpoint = aws.String("http://" + w.proxy.Addr)
	dl, err := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, Attempts: 3, MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Logger: testlog.New(w.t)})
	if err != nil {
		w.t.Fatal(err)
	}
	var downloader store.Downloader = dl
	if wrap != nil {
		downloader = wrap(dl)
	}
	return newDeviceWith(w.t, func(o *Options) {
		o.Store = store.Open(store.Options{Root: o.KernelRoot, Downloader: downloader, MaxSizeBytes: maxSize, Logger: testlog.New(w.t)})
	})
}

// gets are moto's recorded GETs of key (since StartRecording).
func (w *s3World) gets(key string) []testutil.RecordedRequest {
	var out []testutil.RecordedRequest
	for _, r := range w.moto.Recorded(w.t) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/"+key) {
			out = append(out, r)
		}
	}
	return out
}

// cutAfter cuts the link once a download of uri has completed.
type cutAfter struct {
	store.Downloader
	uri   string
	proxy *testutil.Proxy
}

func (c cutAfter) Download(ctx context.Context, uri, path string, progress func(done, total int64)) (string, error) {
	sum, err := c.Downloader.Download(ctx, uri, path, progress)
	if uri == c.uri {
		c.proxy.Cut()
	}
	return sum, err
}

// installed lists the files the store holds for a component.
func installed(root, name string) []string {
	var out []string
	_ = filepath.WalkDir(filepath.Join(root, "packages", "artifacts", name), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestArtifactsFromS3(t *testing.T) {
	m, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	world := func(t *testing.T) *s3World {
		return &s3World{t: t, moto: m, proxy: testutil.StartProxy(t, strings.TrimPrefix(m.URL, "http://")),
			s3: s3.NewFromConfig(m.Config(), func(o *s3.Options) { o.UsePathStyle = true })}
	}

	t.Run("DownloadedCheckedInstalledAndRunWithProgressInTheStatus", func(t *testing.T) {
		w := world(t)
		art := script("from s3", 256<<10)
		w.put("ok-bucket", "app/1.0.0/run.sh", art)
		d := w.device(0, nil)
		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.S3App", "1.0.0", "s3://ok-bucket/app/1.0.0/run.sh", b64sha(art), 0)
		st := d.deploy(dir, local(map[string]string{"com.example.S3App": "1.0.0"}))
		if st.State != ddoc.Succeeded {
			t.Fatalf("deployment %s: %s", st.State, st.Reason)
		}
		if got := d.seen("com.example.S3App"); got != "from s3" {
			t.Fatalf("the component saw %q", got)
		}
		p := st.Progress
		if p == nil || p.Bytes != int64(len(art)) || p.TotalBytes != int64(len(art)) || len(p.Artifacts) != 1 ||
			p.Artifacts[0].URI != "s3://ok-bucket/app/1.0.0/run.sh" || p.Artifacts[0].Bytes != int64(len(art)) {
			t.Fatalf("progress %+v, want the one artifact's %d bytes done", p, len(art))
		}
		if left, _ := filepath.Glob(filepath.Join(d.root, "packages", "downloads", "*", "*", "*")); len(left) > 0 {
			t.Fatalf("downloads left after the install: %v", left)
		}
	})

	t.Run("ADigestMismatchFailsNamingTheArtifactAndBothDigestsAndInstallsNothing", func(t *testing.T) {
		w := world(t)
		art := script("tampered", 1024)
		w.put("mismatch-bucket", "run.sh", art)
		d := w.device(0, nil)
		dir := t.TempDir()
		want := b64sha([]byte("what the publisher built"))
		s3Recipe(t, dir, "com.example.Tampered", "1.0.0", "s3://mismatch-bucket/run.sh", want, 0)
		st := d.deploy(dir, local(map[string]string{"com.example.Tampered": "1.0.0"}))
		if st.State != ddoc.Failed {
			t.Fatalf("deployment %s: %s; want FAILED", st.State, st.Reason)
		}
		for _, s := range []string{"s3://mismatch-bucket/run.sh", "com.example.Tampered", want, b64sha(art), "digest mismatch"} {
			if !strings.Contains(st.Reason, s) {
				t.Errorf("reason %q does not name %s", st.Reason, s)
			}
		}
		if files := installed(d.root, "com.example.Tampered"); len(files) > 0 {
			t.Fatalf("installed despite the mismatch: %v", files)
		}
		if _, ok := d.sup.Status("com.example.Tampered"); ok {
			t.Fatal("the component was handed to the supervisor")
		}
	})

	t.Run("OverComponentStoreMaxSizeBytesFailsBeforeDownloadingNamingTheKey", func(t *testing.T) {
		w := world(t)
		art := script("big", 64<<10)
		w.put("cap-bucket", "run.sh", art)
		d := w.device(16<<10, nil)
		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.Big", "1.0.0", "s3://cap-bucket/run.sh", b64sha(art), 0)
		m.StartRecording(t)
		st := d.deploy(dir, local(map[string]string{"com.example.Big": "1.0.0"}))
		if st.State != ddoc.Failed || !strings.Contains(st.Reason, "componentStoreMaxSizeBytes") {
			t.Fatalf("deployment %s: %s; want FAILED naming componentStoreMaxSizeBytes", st.State, st.Reason)
		}
		if gets := w.gets("run.sh"); len(gets) > 0 {
			t.Fatalf("%d GETs: the artifact was downloaded though it cannot fit", len(gets))
		}
	})

	t.Run("AMissingObjectFailsNamingBucketAndKey", func(t *testing.T) {
		w := world(t)
		w.put("missing-bucket", "other", []byte("x"))
		d := w.device(0, nil)
		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.Missing", "1.0.0", "s3://missing-bucket/app/run.sh", b64sha([]byte("x")), 0)
		st := d.deploy(dir, local(map[string]string{"com.example.Missing": "1.0.0"}))
		if st.State != ddoc.Failed || !strings.Contains(st.Reason, `bucket "missing-bucket"`) || !strings.Contains(st.Reason, `"app/run.sh"`) {
			t.Fatalf("deployment %s: %s; want FAILED naming the bucket and the key", st.State, st.Reason)
		}
	})

	t.Run("GreengrassAndDockerURIsAreRefusedBeforeAnythingIsDownloaded", func(t *testing.T) {
		w := world(t)
		art := script("ok", 1024)
		w.put("mixed-bucket", "run.sh", art)
		d := w.device(0, nil)
		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.Fine", "1.0.0", "s3://mixed-bucket/run.sh", b64sha(art), 0)
		for name, uri := range map[string]string{"com.example.Container": "docker:nginx:1.25", "com.example.Shared": "greengrass:lib.zip"} {
			text := fmt.Sprintf("RecipeFormatVersion: '2020-01-25'\nComponentName: %s\nComponentVersion: '1.0.0'\nManifests:\n  - Lifecycle: {Run: 'sleep 300'}\n    Artifacts:\n      - URI: %s\n", name, uri)
			if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m.StartRecording(t)
		st := d.deploy(dir, local(map[string]string{"com.example.Fine": "1.0.0", "com.example.Container": "1.0.0", "com.example.Shared": "1.0.0"}))
		if st.State != ddoc.Failed {
			t.Fatalf("deployment %s: %s; want FAILED", st.State, st.Reason)
		}
		for _, s := range []string{"com.example.Container", "docker:nginx:1.25", "com.example.Shared", "greengrass:lib.zip", "s3:// and file:"} {
			if !strings.Contains(st.Reason, s) {
				t.Errorf("reason %q does not name %s", st.Reason, s)
			}
		}
		if gets := w.gets("run.sh"); len(gets) > 0 {
			t.Fatalf("%d GETs: a deployment refused for its URIs downloaded", len(gets))
		}
	})

	t.Run("APartialDownloadLeftByAStoppedNucleusIsResumed", func(t *testing.T) {
		w := world(t)
		art := script("resumed", 2<<20)
		w.put("resume-bucket", "run.sh", art)
		d := w.device(0, nil)
		// What a nucleus stopped a quarter of the way in left in the store.
		cfg := m.Config()
		cfg.BaseEndpoint = aws.String("http://" + w.proxy.Addr)
		first, _ := artifacts.New(artifacts.Options{AWS: cfg, PathStyle: true, Logger: testlog.New(t)})
		w.proxy.SetRate(4 << 20)
		ctx, stop := context.WithCancel(context.Background())
		partial := filepath.Join(d.root, "packages", "downloads", "com.example.Resumed", "1.0.0", "run.sh")
		_, _ = first.Download(ctx, "s3://resume-bucket/run.sh", partial, func(done, _ int64) {
			if done >= int64(len(art))/4 {
				stop()
			}
		})
		w.proxy.SetRate(0)
		fi, err := os.Stat(partial + ".partial")
		if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(art)) {
			t.Fatalf("no partial download to resume: %v %v", fi, err)
		}

		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.Resumed", "1.0.0", "s3://resume-bucket/run.sh", b64sha(art), 0)
		m.StartRecording(t)
		st := d.deploy(dir, local(map[string]string{"com.example.Resumed": "1.0.0"}))
		if st.State != ddoc.Succeeded {
			t.Fatalf("deployment %s: %s", st.State, st.Reason)
		}
		gets := w.gets("run.sh")
		if len(gets) != 1 || gets[0].Header["Range"] != fmt.Sprintf("bytes=%d-", fi.Size()) {
			t.Fatalf("GETs %v, want one from byte %d", gets, fi.Size())
		}
		if got := d.seen("com.example.Resumed"); got != "resumed" {
			t.Fatalf("the component saw %q", got)
		}
	})

	t.Run("ARollbackWithS3UnreachableUsesTheStore", func(t *testing.T) {
		w := world(t)
		v1, v2 := script("v1", 4096), script("v2", 4096)
		w.put("rollback-bucket", "1.0.0/run.sh", v1)
		w.put("rollback-bucket", "2.0.0/run.sh", v2)
		// S3 goes away as soon as version 2's artifact is downloaded.
		d := w.device(0, func(dl store.Downloader) store.Downloader {
			return cutAfter{Downloader: dl, uri: "s3://rollback-bucket/2.0.0/run.sh", proxy: w.proxy}
		})
		dir := t.TempDir()
		s3Recipe(t, dir, "com.example.Rolled", "1.0.0", "s3://rollback-bucket/1.0.0/run.sh", b64sha(v1), 0)
		s3Recipe(t, dir, "com.example.Rolled", "2.0.0", "s3://rollback-bucket/2.0.0/run.sh", b64sha(v2), 3)
		if st := d.deploy(dir, local(map[string]string{"com.example.Rolled": "1.0.0"})); st.State != ddoc.Succeeded {
			t.Fatalf("version 1: %s: %s", st.State, st.Reason)
		}
		st := d.deploy("", local(map[string]string{"com.example.Rolled": "2.0.0"}))
		if st.State != ddoc.RolledBack {
			t.Fatalf("version 2: %s: %s; want ROLLED_BACK", st.State, st.Reason)
		}
		now, _ := d.sup.Status("com.example.Rolled")
		if now.Version != "1.0.0" || now.State != lifecycle.StateRunning {
			t.Fatalf("after the rollback the component is %s %s, want 1.0.0 RUNNING", now.Version, now.State)
		}
		testutil.Eventually(t, "version 1 runs its artifact again", func() error {
			data, _ := os.ReadFile(filepath.Join(d.root, "work", "com.example.Rolled", "seen.txt"))
			if got := strings.TrimSpace(string(data)); got != "v1" {
				return fmt.Errorf("the component saw %q", got)
			}
			return nil
		})
		// And the store kept version 1 for the next time, S3 still down.
		if files := installed(d.root, "com.example.Rolled"); len(files) != 1 || !strings.Contains(files[0], "1.0.0") {
			t.Fatalf("store after the rollback: %v", files)
		}
	})
}
