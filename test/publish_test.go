package test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/test/harness"
)

// samplesRepo copies the repository's recipes/ folder, as it is, into a
// new git repository and commits it; it writes a stand-in file for every
// artifact `make artifacts` would build into the returned artifact folder.
func samplesRepo(t *testing.T) (recipes, artifacts, commit string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	recipes = filepath.Join(dir, "recipes")
	if err := os.CopyFS(recipes, os.DirFS(filepath.Join(harness.RepoRoot(), "recipes"))); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string { t.Helper(); return gitIn(t, dir, args...) }
	git("init", "--quiet")
	git("add", "--all")
	git("commit", "--quiet", "-m", "samples")
	commit = git("rev-parse", "HEAD")

	artifacts = t.TempDir()
	all, err := recipe.LoadDir(recipes)
	if err != nil {
		t.Fatal(err)
	}
	built := 0
	for _, r := range all {
		for _, m := range r.Manifests {
			for _, a := range m.Artifacts {
				if _, err := os.Stat(filepath.Join(filepath.Dir(r.File), a.FileName())); err == nil {
					continue // a script beside its recipe, published as committed
				}
				p := filepath.Join(artifacts, r.Name, r.Version, a.FileName())
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("stand-in for the binary of "+r.ID()), 0o755); err != nil {
					t.Fatal(err)
				}
				built++
			}
		}
	}
	if len(all) < 5 || built < 4 {
		t.Fatalf("%d sample recipes with %d built artifacts; the samples have at least 5 and 4", len(all), built)
	}
	return recipes, artifacts, commit
}

// TestPublishReleasesTheSamplesAsCommittedAndTheReleaseLambdaCreatesTheJob
// runs `sward publish` against devcloud with the real release Lambda: the
// sample recipes, unedited, become a release the Lambda accepts, whose job
// `sward release status` shows with the device's execution.
func TestPublishReleasesTheSamplesAsCommittedAndTheReleaseLambdaCreatesTheJob(t *testing.T) {
	dist := harness.LambdaDist(t, "release")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	createThing(t, d, "dev1", "--group", "sward-devices")
	recipes, artifacts, commit := samplesRepo(t)

	env := cloudEnv(d)
	sward := func(args ...string) (string, error) {
		cmd := exec.Command(harness.Binary(t), args...)
		cmd.Env = env
		cmd.Dir = filepath.Dir(recipes)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := sward("publish", "--stack", "SwardCloud", "--recipes", recipes, "--artifacts", artifacts)
	if err != nil {
		t.Fatalf("sward publish: %v\n%s", err, out)
	}
	job := release.JobID(commit)
	for _, want := range []string{
		"uploaded   s3://sward-artifacts-" + d.Info.AccountID + "-" + d.Info.Region + "/artifacts/com.sward.samples.SensorSimulator/1.0.0/sensor-simulator",
		"/artifacts/com.sward.samples.HealthReporter/1.0.0/health.py",
		"manifest   s3://sward-artifacts-",
		"published commit " + commit + " to group sward-devices: 5 components (5 changed)",
		"job " + job,
		"sward release status " + commit,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sward publish printed\n%s\nwithout %q", out, want)
		}
	}
	if i, j := strings.Index(out, "recipe     "), strings.Index(out, "manifest   "); i < 0 || j < i || strings.LastIndex(out, "uploaded   ") > i {
		t.Errorf("sward publish did not upload artifacts, then recipes, then the manifest:\n%s", out)
	}

	// The release Lambda runs on the manifest's upload: accepted, the job
	// exists and the device has an execution.
	var status string
	testutil.Eventually(t, "sward release status showing the accepted release", func() error {
		status, err = sward("release", "status")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, status)
		}
		for _, re := range []string{`(?m)^release  ` + commit + `$`, `(?m)^job      ` + job + `$`, `(?m)^status   IN_PROGRESS`, `(?m)^group    sward-devices$`, `(?m)^iot job  IN_PROGRESS$`, `(?m)^  dev1 +QUEUED$`} {
			if !regexp.MustCompile(re).MatchString(status) {
				return fmt.Errorf("status lacks %s:\n%s\nrequest log:\n%s", re, status, readFile(t, d.Data, devcloud.RequestLogFile))
			}
		}
		return nil
	})
	t.Logf("sward release status:\n%s", status)

	// Nothing changed: nothing is published again.
	out, err = sward("publish", "--stack", "SwardCloud", "--recipes", recipes, "--artifacts", artifacts)
	if err != nil || !strings.Contains(out, "nothing changed since release "+commit) {
		t.Errorf("a second sward publish of the same recipes: %v\n%s", err, out)
	}
}

func TestPublishWithEndpointURLAndBucketAndGroupFlagsReleasesToThatBucket(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	s3c := s3.NewFromConfig(moto.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	const bucket = "flags-bucket"
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	recipes, artifacts, commit := samplesRepo(t)
	cmd := exec.Command(harness.Binary(t), "publish", "--bucket", bucket, "--group", "flag-group", "--endpoint-url", moto.URL,
		"--region", moto.Region, "--recipes", recipes, "--artifacts", artifacts)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sward publish: %v\n%s", err, out)
	}
	obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(release.ManifestKey(commit))})
	if err != nil {
		t.Fatalf("the manifest in %s: %v\n%s", bucket, err, out)
	}
	defer obj.Body.Close()
	data, _ := io.ReadAll(obj.Body)
	m, err := release.Decode(data)
	if err != nil || m.ThingGroup != "flag-group" || len(m.Components) != 5 {
		t.Errorf("manifest %+v, %v; want 5 components for flag-group", m, err)
	}
}

func TestPublishAndReleaseStatusFlagErrorsNameTheFix(t *testing.T) {
	bin := harness.Binary(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "--commit", "abc", "--bucket", "b", "--group", "g"}, "not a full commit id"},
		{[]string{"publish", "--bucket", "b", "--group", "g", "--recipes", "/nonexistent"}, "give --recipes"},
		{[]string{"publish", "extra"}, `unknown command "extra"`},
		{[]string{"release", "status", "not-a-revision", "--table", "t", "--region", "us-east-1"}, "give the 40 or 64 hex digits"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_ENDPOINT_URL=http://127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("sward %v: %v\n%s\nwant an error saying %q", tc.args, err, out, tc.want)
		}
	}
}
