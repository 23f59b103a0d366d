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
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
