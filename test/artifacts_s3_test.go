package test

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

func TestALocalDeploymentDownloadsItsS3ArtifactsWithTheTokenExchangeCredentials(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	thing := createThing(t, d, "artifacts-thing")
	const bucket = "s3-artifacts"
	cloud := s3.NewFromConfig(d.Info.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := cloud.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	art := append([]byte("echo 'downloaded from s3' > \"$1\"\n#"), append(bytes.Repeat([]byte("x"), 1<<20), '\n')...)
	if _, err := cloud.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("com.example.S3App/1.0.0/run.sh"),
		Body: bytes.NewReader(art)}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(art)
	recipes := t.TempDir()
	if err := os.WriteFile(filepath.Join(recipes, "app.yaml"), fmt.Appendf(nil, s3AppRecipe, bucket, base64.StdEncoding.EncodeToString(sum[:])), 0o644); err != nil {
		t.Fatal(err)
	}

	// The nucleus's only AWS credentials are the token exchange service's;
	// the SDK finds S3 (devcloud's moto) through AWS_ENDPOINT_URL.
	t.Setenv("AWS_ENDPOINT_URL", d.Info.Endpoints.AWS)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	n := harness.Start(t, "", "", "--config", writeTESConfig(t, d, thing, ""), "--thing-name", thing.ThingName)
	id := deployOK(t, n, "--recipeDir", recipes, "--merge", "com.example.S3App=1.0.0")

	st := deploymentStatus(t, n, id)
	if st.State != ddoc.Succeeded {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	if p := st.Progress; p == nil || p.TotalBytes != int64(len(art)) || p.Bytes != p.TotalBytes {
		t.Fatalf("progress %+v, want %d of %d bytes", p, len(art), len(art))
	}
	harness.Eventually(t, 30*time.Second, "the component runs its downloaded artifact", func() error {
		data, err := os.ReadFile(filepath.Join(n.Root, "work", "com.example.S3App", "seen.txt"))
		if got := strings.TrimSpace(string(data)); got != "downloaded from s3" {
			return fmt.Errorf("seen.txt %q (%v)", got, err)
		}
		return nil
	})
	out, err := n.CLI("component", "list")
	if err != nil || !strings.Contains(out, "RUNNING") {
		t.Fatalf("component list: %v\n%s", err, out)
	}
	out, err = n.CLI("deployment", "status", id)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d of %d bytes (100%%)", len(art), len(art))) || !strings.Contains(out, "s3://"+bucket+"/") {
		t.Fatalf("deployment status does not show the download: %v\n%s", err, out)
	}
}

func TestAKill9MidDownloadResumesFromThePartialFileAfterTheRestart(t *testing.T) {
	m, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	const bucket, key = "kill-artifacts", "com.example.S3App/1.0.0/run.sh"
	cloud := s3.NewFromConfig(m.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := cloud.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	art := append([]byte("echo 'downloaded from s3' > \"$1\"\n#"), append(bytes.Repeat([]byte("x"), 4<<20), '\n')...)
	if _, err := cloud.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(art)}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(art)
	recipes := t.TempDir()
	if err := os.WriteFile(filepath.Join(recipes, "app.yaml"), fmt.Appendf(nil, s3AppRecipe, bucket, base64.StdEncoding.EncodeToString(sum[:])), 0o644); err != nil {
		t.Fatal(err)
	}
	// S3 is moto behind a slow link (1 MB/s: four seconds for the object);
	// without a cloud configuration the nucleus takes the SDK's default
	// credentials, moto's from the environment.
	proxy := testutil.StartProxy(t, strings.TrimPrefix(m.URL, "http://"))
	proxy.SetRate(1 << 20)
	t.Setenv("AWS_ENDPOINT_URL", "http://"+proxy.Addr)
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": testutil.MotoCredentials, "AWS_SECRET_ACCESS_KEY": testutil.MotoCredentials,
		"AWS_SESSION_TOKEN": "", "AWS_REGION": m.Region, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"} {
		t.Setenv(k, v)
	}

	n := harness.Start(t, "", "")
	doc := ddoc.New(ddoc.LocalGroup)
	doc.Components["com.example.S3App"] = ddoc.Component{Version: "1.0.0"}
	st, err := n.Client().CreateDeployment(ctx, doc, recipes, "")
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(n.Root, "packages", "downloads", "com.example.S3App", "1.0.0", "run.sh.partial")
	harness.Eventually(t, 30*time.Second, "a quarter of the artifact is downloaded", func() error {
		fi, err := os.Stat(partial)
		if err != nil || fi.Size() < int64(len(art))/4 {
			return fmt.Errorf("partial file: %v %v", fi, err)
		}
		return nil
	})
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus survived SIGKILL")
	}
	fi, err := os.Stat(partial)
	if err != nil || fi.Size() >= int64(len(art)) {
		t.Fatalf("after the kill the partial file is %v (%v), want part of %d bytes", fi, err, len(art))
	}

	m.StartRecording(t)
	proxy.SetRate(0)
	again := harness.StartAt(t, n.Root, "", "")
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	final, err := again.Client().WaitDeployment(waitCtx, st.DeploymentID)
	if err != nil || final.State != ddoc.Succeeded {
		t.Fatalf("the interrupted deployment ended %s: %s (%v)", final.State, final.Reason, err)
	}
	var ranges []string
	for _, r := range m.Recorded(t) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/"+key) {
			ranges = append(ranges, r.Header["Range"])
		}
	}
	if want := fmt.Sprintf("bytes=%d-", fi.Size()); len(ranges) != 1 || ranges[0] != want {
		t.Fatalf("GETs after the restart asked for %q, want one for %q (the rest after the partial file)", ranges, want)
	}
	harness.Eventually(t, 30*time.Second, "the component runs its downloaded artifact", func() error {
		data, err := os.ReadFile(filepath.Join(again.Root, "work", "com.example.S3App", "seen.txt"))
		if got := strings.TrimSpace(string(data)); got != "downloaded from s3" {
			return fmt.Errorf("seen.txt %q (%v)", got, err)
		}
		return nil
	})
}
