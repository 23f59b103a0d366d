package test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/test/harness"
)

// loopRecipe is a component whose one artifact, run.sh beside the recipe,
// is what runs; the URI is a placeholder that `sward publish` rewrites.
const loopRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Loop
ComponentVersion: "%s"
Manifests:
  - Platform:
      os: linux
    Lifecycle:
      Run: sh {artifacts:path}/run.sh {work:path}
    Artifacts:
      - URI: s3://placeholder/com.example.Loop/%s/run.sh
`

// TestACommitReachesTheDeviceThroughPublishTheReleaseLambdaAndItsJob drives
// the path `make dev` runs, with real parts only: a commit in a git
// repository → `sward publish` (the binary) to devcloud → the release
// Lambda → an IoT job for the thing group → a provisioned nucleus started
// with no recipes folder takes the job, downloads the recipe and the
// s3:// artifact with the token exchange credentials only, verifies its
// digest and runs it → RUNNING → the execution SUCCEEDED → the
// deployment-events Lambda's history row in DynamoDB. Then a broken version
// (its run exits 1 at once): FAILED, rolled back on the device to the
// version before (still RUNNING), the failure recorded in the history and
// counted in the release record. A release `sward publish` writes has no
// abort criteria, so, as lambdas/deploymentevents documents, the count
// cancels nothing: the release stays IN_PROGRESS. The same release given
// abort criteria (FAILED ≥ 100 % of at least one device) is stopped by the
// deployment-events Lambda: job CANCELED, release CANCELED with the
// reason. It prints the time from the commit to the new version RUNNING
// (docs/performance.md).
func TestACommitReachesTheDeviceThroughPublishTheReleaseLambdaAndItsJob(t *testing.T) {
	dist := harness.LambdaDist(t, "release", "deployment-events")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	const group, component = "sward-devices", "com.example.Loop"
	thing := createThing(t, d, "loop-thing", "--group", group)
	config := writeTESConfig(t, d, thing, "")

	// The nucleus's only AWS credentials are the token exchange service's;
	// S3 is devcloud's, as make dev sets it.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": d.Info.Endpoints.S3} {
		t.Setenv(k, v)
	}
	n := harness.Start(t, "", "", "--config", config, "--thing-name", thing.ThingName)

	// The repository: one recipe and its script.
	repo := t.TempDir()
	dir := filepath.Join(repo, "recipes", component)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string { t.Helper(); return gitIn(t, repo, args...) }
	git("init", "--quiet")
	// commit writes version's recipe and script and commits them; it
	// returns the commit id and when the commit was made.
	commit := func(version, script string) (string, time.Time) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "recipe.yaml"), fmt.Appendf(nil, loopRecipe, version, version), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		git("add", "--all")
		git("commit", "--quiet", "-m", component+" "+version)
		return git("rev-parse", "HEAD"), at
	}
	running := func(version string) string {
		return fmt.Sprintf("echo %s > \"$1/version.txt\"\nexec sleep 600\n", version)
	}

	sward := func(args ...string) string {
		t.Helper()
		c := exec.Command(harness.Binary(t), args...)
		c.Env, c.Dir = cloudEnv(d), repo
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("sward %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	publish := func(commit string) time.Duration {
		t.Helper()
		start := time.Now()
		out := sward("publish", "--stack", "SwardCloud")
		if !strings.Contains(out, "published commit "+commit+" to group "+group) || !strings.Contains(out, "job "+release.JobID(commit)) {
			t.Fatalf("sward publish printed no release of %s:\n%s", commit, out)
		}
		return time.Since(start)
	}

	ctx := context.Background()
	client := iot.NewFromConfig(d.Info.IoTConfig())
	execution := func(job string, want iottypes.JobExecutionStatus) *iottypes.JobExecution {
		return waitExecution(t, client, job, thing.ThingName, want)
	}
	// runsAt polls every 20 ms until the component is RUNNING at version
	// and returns when the test saw it.
	runsAt := func(version string) time.Time {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var last string
		for time.Now().Before(deadline) {
			comps, err := n.Client().Components(ctx)
			last = fmt.Sprintf("%+v %v", comps, err)
			for _, c := range comps {
				if c.Name == component && c.Version == version && c.State == "RUNNING" {
					return time.Now()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s is not RUNNING at %s after 60 s: %s", component, version, last)
		return time.Time{}
	}
	// wrote waits until the running script has written its version.
	wrote := func(version string) {
		t.Helper()
		harness.Eventually(t, 10*time.Second, "the script of "+version+" writing its version", func() error {
			data, err := os.ReadFile(n.WorkPath(component, "version.txt"))
			if got := strings.TrimSpace(string(data)); got != version {
				return fmt.Errorf("version.txt %q (%v)", got, err)
			}
			return nil
		})
	}
	db := dynamodb.NewFromConfig(d.Info.AWSConfig())
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	statusTable := physical(t, tables.TableNames, "SwardCloud-DeviceStatusTable")
	history := func(job, status string) {
		t.Helper()
		harness.Eventually(t, 60*time.Second, "the deployment-events Lambda's history row "+status+" of "+job, func() error {
			out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(statusTable), ConsistentRead: aws.Bool(true),
				KeyConditionExpression:    aws.String("thingName = :t AND begins_with(sortKey, :p)"),
				ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":t": sAttr(thing.ThingName), ":p": sAttr("history#" + job + "#")}})
			if err != nil {
				return err
			}
			var got []string
			for _, it := range out.Items {
				if got = append(got, attrS(it, "status")); attrS(it, "status") == status {
					return nil
				}
			}
			return fmt.Errorf("history rows %v, want one %s", got, status)
		})
	}
	// releaseStatus waits until `sward release status` shows every line of want.
	releaseStatus := func(commit string, want ...string) string {
		t.Helper()
		var out string
		harness.Eventually(t, 60*time.Second, "sward release status "+commit, func() error {
			out = sward("release", "status", commit)
			for _, re := range want {
				if !regexp.MustCompile(re).MatchString(out) {
					return fmt.Errorf("no %s in:\n%s", re, out)
				}
			}
			return nil
		})
		return out
	}

	// 1.0.0: the first release reaches the device.
	first, _ := commit("1.0.0", running("1.0.0"))
	publish(first)
	job := release.JobID(first)
	runsAt("1.0.0")
	e := execution(job, iottypes.JobExecutionStatusSucceeded)
	if got := e.StatusDetails.DetailsMap["detailed-deployment-status"]; got != "SUCCESSFUL" {
		t.Errorf("detailed-deployment-status %q, want SUCCESSFUL", got)
	}
	history(job, "SUCCEEDED")
	wrote("1.0.0")
	// The artifact came from the release's bucket, as published.
	out, err := n.CLI("deployment", "status", job)
	artifact := "s3://sward-artifacts-" + d.Info.AccountID + "-" + d.Info.Region + "/artifacts/" + component + "/1.0.0/run.sh"
	if err != nil || !strings.Contains(out, artifact) || !strings.Contains(out, first) {
		t.Errorf("sward deployment status %s shows no download of %s for commit %s (%v):\n%s", job, artifact, first, err, out)
	}
	installed, err := os.ReadFile(filepath.Join(n.Root, "packages", "artifacts", component, "1.0.0", "run.sh"))
	if err != nil || sha256.Sum256(installed) != sha256.Sum256([]byte(running("1.0.0"))) {
		t.Errorf("the installed artifact is not the committed run.sh (%v):\n%s", err, installed)
	}

	// 1.0.1: commit → RUNNING on the device, timed.
	second, committed := commit("1.0.1", running("1.0.1"))
	took := publish(second)
	job = release.JobID(second)
	seen := runsAt("1.0.1")
	execution(job, iottypes.JobExecutionStatusSucceeded)
	history(job, "SUCCEEDED")
	wrote("1.0.1")
	releaseStatus(second, `(?m)^status   IN_PROGRESS`, `(?m)^devices  1 SUCCEEDED$`, `(?m)^  loop-thing +SUCCEEDED$`)
	created, err := client.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(job)})
	if err != nil {
		t.Fatal(err)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("commit → new version RUNNING on the device: %.0f ms (sward publish %.0f ms, job created at +%.0f ms; the test polls every 20 ms); load %s",
		ms(seen.Sub(committed)), ms(took), ms(aws.ToTime(created.Job.CreatedAt).Sub(committed)), strings.TrimSpace(string(load)))

	// 1.0.2 is broken: FAILED, rolled back to 1.0.1, counted.
	broken, _ := commit("1.0.2", "echo broken >&2\nexit 1\n")
	publish(broken)
	job = release.JobID(broken)
	e = execution(job, iottypes.JobExecutionStatusFailed)
	if got := e.StatusDetails.DetailsMap["detailed-deployment-status"]; got != "FAILED_ROLLBACK_COMPLETE" ||
		!strings.Contains(e.StatusDetails.DetailsMap["deployment-failure-cause"], component) {
		t.Errorf("statusDetails %v, want FAILED_ROLLBACK_COMPLETE naming %s", e.StatusDetails.DetailsMap, component)
	}
	runsAt("1.0.1")
	history(job, "FAILED")
	status := releaseStatus(broken, `(?m)^devices  1 FAILED$`, `(?m)^  loop-thing +FAILED$`)
	if !regexp.MustCompile(`(?m)^status   IN_PROGRESS`).MatchString(status) {
		t.Errorf("a release without abort criteria was stopped by one failure:\n%s", status)
	}
	wrote("1.0.1")

	// The same broken release with abort criteria (FAILED ≥ 100 % of at
	// least 1 device: what a release's settings would give; publish writes
	// none): the deployment-events Lambda counts the failure against them
	// and stops the rollout, and the release is recorded CANCELED.
	aborting := commitOf(t.Name() + "abort")
	rel := newReleaser(d)
	m := readManifest(t, rel, broken)
	m.CommitID = aborting
	for name, c := range m.Components {
		key := release.RecipeKey(aborting, name, c.Version)
		rel.copy(t, c.Recipe.Key, key)
		c.Recipe.Key = key
		m.Components[name] = c
	}
	m.Abort = &release.Abort{Criteria: []release.AbortCriterion{{FailureType: release.FailureFailed, ThresholdPercentage: 100, MinNumberOfExecutedThings: 1}}}
	manifest, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rel.put(t, release.ManifestKey(aborting), manifest)
	job = release.JobID(aborting)
	execution(job, iottypes.JobExecutionStatusFailed)
	runsAt("1.0.1")
	status = releaseStatus(aborting, `(?m)^status   CANCELED`, `(?m)^reason   1 of 1 devices that finished failed .*abort criterion FAILED`, `(?m)^devices  1 FAILED$`)
	t.Logf("a failure beyond the release's abort criteria:\n%s", status)
}

// cloudEnv is the environment of a `sward` command run against devcloud
// with its credentials, as make dev runs them: its S3 endpoint delivers
// the bucket's notifications (the release Lambda).
func cloudEnv(d *harness.Devcloud) []string {
	return append(os.Environ(),
		"AWS_REGION="+d.Info.Region,
		"AWS_ACCESS_KEY_ID="+d.Info.Credentials.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+d.Info.Credentials.SecretAccessKey,
		"AWS_ENDPOINT_URL="+d.Info.Endpoints.AWS,
		"AWS_ENDPOINT_URL_S3="+d.Info.Endpoints.S3,
		"AWS_ENDPOINT_URL_IOT="+d.Info.Endpoints.IoT,
		"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}

func readManifest(t *testing.T, r releaser, commit string) *release.Manifest {
	t.Helper()
	out, err := r.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(release.ManifestKey(commit))})
	if err != nil {
		t.Fatalf("the manifest of %s: %v", commit, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := release.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copy copies an object of the artifacts bucket to another key.
func (r releaser) copy(t *testing.T, from, to string) {
	t.Helper()
	if _, err := r.s3.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(to),
		CopySource: aws.String(r.bucket + "/" + from), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("copy %s to %s: %v", from, to, err)
	}
}

// put writes an object of the artifacts bucket with its SHA-256 checksum,
// as `sward publish` does.
func (r releaser) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := r.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}
