package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/internal/testutil"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

// s3AppRecipe runs its S3 artifact run.sh, which writes what it says into
// the work folder, then sleeps.
const s3AppRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.S3App
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: sh {artifacts:path}/run.sh {work:path}/seen.txt; exec sleep 300
    Artifacts:
      - URI: s3://%s/com.example.S3App/1.0.0/run.sh
        Digest: %s
        Algorithm: SHA-256
`

// s3Device is devcloud with a thing, a bucket holding com.example.S3App's
// artifact (a script padded to size bytes) and its recipe in recipes.
type s3Device struct {
	d       *harness.Devcloud
	thing   thingFiles
	bucket  string
	key     string
	art     []byte
	recipes string
}

func newS3Device(t *testing.T, size int) *s3Device {
	t.Helper()
	s := &s3Device{d: harness.StartDevcloud(t, harness.SynthTemplate(t), ""), bucket: "s3-artifacts", key: "com.example.S3App/1.0.0/run.sh"}
	s.thing = createThing(t, s.d, "artifacts-thing")
	cloud := s3.NewFromConfig(s.d.Info.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := cloud.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Fatal(err)
	}
	s.art = append([]byte("echo 'downloaded from s3' > \"$1\"\n#"), append(bytes.Repeat([]byte("x"), size), '\n')...)
	if _, err := cloud.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key), Body: bytes.NewReader(s.art)}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s.art)
	s.recipes = t.TempDir()
	if err := os.WriteFile(filepath.Join(s.recipes, "app.yaml"), fmt.Appendf(nil, s3AppRecipe, s.bucket, base64.StdEncoding.EncodeToString(sum[:])), 0o644); err != nil {
		t.Fatal(err)
	}
	// The nucleus's only AWS credentials are the token exchange service's.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	return s
}

// args are the `sward run` arguments of the device: its configuration
// file, with the token exchange keys.
func (s *s3Device) args(t *testing.T) []string {
	return []string{"--config", writeTESConfig(t, s.d, s.thing, ""), "--thing-name", s.thing.ThingName}
}

// runs waits until the component ran its downloaded artifact.
func (s *s3Device) runs(t *testing.T, n *harness.Nucleus) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, "the component runs its downloaded artifact", func() error {
		data, err := os.ReadFile(filepath.Join(n.Root, "work", "com.example.S3App", "seen.txt"))
		if got := strings.TrimSpace(string(data)); got != "downloaded from s3" {
			return fmt.Errorf("seen.txt %q (%v)", got, err)
		}
		return nil
	})
}

func TestALocalDeploymentDownloadsItsS3ArtifactsWithTheTokenExchangeCredentials(t *testing.T) {
	s := newS3Device(t, 1<<20)
	// The SDK finds S3 (devcloud's moto) through AWS_ENDPOINT_URL.
	t.Setenv("AWS_ENDPOINT_URL", s.d.Info.Endpoints.AWS)
	n := harness.Start(t, "", "", s.args(t)...)
	id := deployOK(t, n, "--recipeDir", s.recipes, "--merge", "com.example.S3App=1.0.0")

	st := deploymentStatus(t, n, id)
	if st.State != ddoc.Succeeded {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	if p := st.Progress; p == nil || p.TotalBytes != int64(len(s.art)) || p.Bytes != p.TotalBytes {
		t.Fatalf("progress %+v, want %d of %d bytes", p, len(s.art), len(s.art))
	}
	s.runs(t, n)
	out, err := n.CLI("component", "list")
	if err != nil || !strings.Contains(out, "RUNNING") {
		t.Fatalf("component list: %v\n%s", err, out)
	}
	out, err = n.CLI("deployment", "status", id)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d of %d bytes (100%%)", len(s.art), len(s.art))) || !strings.Contains(out, "s3://"+s.bucket+"/") {
		t.Fatalf("deployment status does not show the download: %v\n%s", err, out)
	}
}

func TestAKill9MidDownloadResumesFromThePartialFileAfterTheRestart(t *testing.T) {
	s := newS3Device(t, 4<<20)
	// S3 behind a slow link: 1 MB/s, four seconds for the object.
	proxy := testutil.StartProxy(t, strings.TrimPrefix(s.d.Info.Endpoints.AWS, "http://"))
	proxy.SetRate(1 << 20)
	t.Setenv("AWS_ENDPOINT_URL", "http://"+proxy.Addr)
	args := s.args(t)
	n := harness.Start(t, "", "", args...)
	ctx := context.Background()
	doc := ddoc.New(ddoc.LocalGroup)
	doc.Components["com.example.S3App"] = ddoc.Component{Version: "1.0.0"}
	st, err := n.Client().CreateDeployment(ctx, doc, s.recipes, "")
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(n.Root, "packages", "downloads", "com.example.S3App", "1.0.0", "run.sh.partial")
	harness.Eventually(t, 30*time.Second, "a quarter of the artifact is downloaded", func() error {
		fi, err := os.Stat(partial)
		if err != nil || fi.Size() < int64(len(s.art))/4 {
			return fmt.Errorf("partial file: %v %v", fi, err)
		}
		return nil
	})
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus survived SIGKILL")
	}
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() >= int64(len(s.art)) {
		t.Fatalf("after the kill the partial file is %v (%v), want part of %d bytes", fi, err, len(s.art))
	}

	proxy.SetRate(0)
	before := proxy.FromTarget()
	again := harness.StartAt(t, n.Root, "", "", args...)
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	final, err := again.Client().WaitDeployment(waitCtx, st.DeploymentID)
	if err != nil || final.State != ddoc.Succeeded {
		t.Fatalf("the interrupted deployment ended %s: %s (%v)", final.State, final.Reason, err)
	}
	// The rest of the object and a few KB of HTTP headers and HEAD answers.
	rest := int64(len(s.art)) - fi.Size()
	if got := proxy.FromTarget() - before; got < rest || got > rest+64<<10 {
		t.Fatalf("after the restart S3 sent %d bytes; the rest after the %d-byte partial file is %d", got, fi.Size(), rest)
	}
	s.runs(t, again)
}
