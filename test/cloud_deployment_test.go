package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/lambdas/deploymentevents"
	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/test/harness"
)

// cloudRelease is a release of components whose recipes run inline
// scripts (no artifacts), uploaded as `sward publish` does: recipes first,
// the manifest last.
type cloudRelease struct {
	commit     string
	components map[string]string // name → recipe Run script
	version    string
	abort      *release.Abort
	// artifactBytes, when set, gives each component one artifact of that
	// many random bytes in S3, which the device downloads.
	artifactBytes int
}

func put(t *testing.T, s3c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// putRecipes uploads the release's recipes under releases/<commit>/recipes/
// and returns its manifest's components.
func (r cloudRelease) putRecipes(t *testing.T, s3c *s3.Client, bucket string) map[string]release.Component {
	t.Helper()
	out := map[string]release.Component{}
	for name, run := range r.components {
		recipe := fmt.Appendf(nil, "RecipeFormatVersion: \"2020-01-25\"\nComponentName: %s\nComponentVersion: \"%s\"\nManifests:\n  - Platform: {os: linux}\n    Lifecycle: {Run: %q}\n",
			name, r.version, run)
		var artifacts []release.Object
		if r.artifactBytes > 0 {
			blob := make([]byte, r.artifactBytes)
			_, _ = rand.Read(blob)
			akey := "artifacts/" + name + "/" + r.version + "/blob"
			put(t, s3c, bucket, akey, blob)
			asum := sha256.Sum256(blob)
			digest := base64.StdEncoding.EncodeToString(asum[:])
			recipe = fmt.Appendf(recipe, "    Artifacts:\n      - {URI: \"s3://%s/%s\", Digest: \"%s\"}\n", bucket, akey, digest)
			artifacts = append(artifacts, release.Object{Key: akey, SHA256: digest})
		}
		key := release.RecipeKey(r.commit, name, r.version)
		put(t, s3c, bucket, key, recipe)
		sum := sha256.Sum256(recipe)
		out[name] = release.Component{Version: r.version, Artifacts: artifacts, Recipe: release.Object{Key: key, SHA256: base64.StdEncoding.EncodeToString(sum[:])}}
	}
	return out
}

// publish uploads the recipes, then the manifest: the release Lambda
// creates the job for group.
func (r cloudRelease) publish(t *testing.T, s3c *s3.Client, bucket, group string) {
	t.Helper()
	m := &release.Manifest{FormatVersion: release.FormatVersion, CommitID: r.commit, ThingGroup: group,
		Components: r.putRecipes(t, s3c, bucket), Policies: deployment.DefaultPolicies(), Abort: r.abort}
	manifest, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	put(t, s3c, bucket, release.ManifestKey(r.commit), manifest)
}

// createJob uploads the recipes and creates the job for group itself, as
// an operator would for a thing group the stack's release Lambda does not
// release to; the document is the one the Lambda would write.
func (r cloudRelease) createJob(t *testing.T, cl releaser, group string) string {
	t.Helper()
	r.putRecipes(t, cl.s3, cl.bucket)
	doc := deployment.New(group)
	doc.DeploymentID = release.JobID(r.commit)
	doc.RecipeSource = release.RecipeSource(cl.bucket, r.commit)
	for name := range r.components {
		doc.Components[name] = deployment.Component{Version: r.version}
	}
	data, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.iot.CreateJob(context.Background(), &iot.CreateJobInput{JobId: aws.String(doc.DeploymentID),
		Targets: []string{groupArn(t, cl.iot, group)}, Document: aws.String(string(data))}); err != nil {
		t.Fatal(err)
	}
	return doc.DeploymentID
}

// releaser is what a test needs to release to devcloud and follow the jobs.
type releaser struct {
	s3     *s3.Client
	bucket string // the stack's artifacts bucket
	iot    *iot.Client
}

func newReleaser(d *harness.Devcloud) releaser {
	cfg := d.Info.AWSConfig()
	cfg.BaseEndpoint = aws.String(d.Info.Endpoints.S3)
	return releaser{s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		bucket: "sward-artifacts-" + d.Info.AccountID + "-" + d.Info.Region, iot: iot.NewFromConfig(d.Info.IoTConfig())}
}

// jobCreated polls every 10 ms until the release Lambda has created job,
// and returns when the test saw it.
func (r releaser) jobCreated(t *testing.T, job string) time.Time {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := r.iot.DescribeJob(context.Background(), &iot.DescribeJobInput{JobId: aws.String(job)}); err == nil {
			return time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the release Lambda created no job %s", job)
	return time.Time{}
}

func commitOf(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestACloudReleaseIsDeployedByAProvisionedNucleusAndItsOutcomeRecorded
// closes the loop with real parts: a release uploaded to devcloud's
// artifacts bucket → the release Lambda → an IoT job for the thing group →
// the nucleus (its link and token exchange pointed at devcloud) takes it
// over the jobs MQTT API, downloads the recipes from S3, deploys →
// components RUNNING → the execution SUCCEEDED with Greengrass's
// statusDetails → the deployment-events Lambda's rows in DynamoDB. Then a
// broken component: FAILED, rolled back to the first release, reported; a
// second thing group of the device deploying a component at another
// version: FAILED naming both groups, and one of its own: both groups'
// components run; releases made while the nucleus is down: the last one
// taken when it is back, the one it superseded canceled; a job document from the future: REJECTED. It prints the time from the job's creation to the components RUNNING
// (docs/performance.md).
func TestACloudReleaseIsDeployedByAProvisionedNucleusAndItsOutcomeRecorded(t *testing.T) {
	dist := harness.LambdaDist(t, "release", "deployment-events")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	const group, cameras = "sward-devices", "sward-cameras"
	thing := createThing(t, d, "jobs-thing", "--group", group, "--group", cameras)
	config := writeTESConfig(t, d, thing, "")
	// The nucleus reaches devcloud's S3 with the token exchange service's
	// credentials only.
	t.Setenv("AWS_ENDPOINT_URL_S3", d.Info.Endpoints.S3)
	n := harness.Start(t, "", "", "--config", config, "--thing-name", thing.ThingName)

	ctx := context.Background()
	cl := newReleaser(d)
	s3c, bucket, client := cl.s3, cl.bucket, cl.iot
	db := dynamodb.NewFromConfig(d.Info.AWSConfig())
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	statusTable := physical(t, tables.TableNames, "SwardCloud-DeviceStatusTable")
	releases := physical(t, tables.TableNames, "SwardCloud-ReleasesTable")

	jobCreated := func(job string) time.Time { return cl.jobCreated(t, job) }
	execution := func(job string, want iottypes.JobExecutionStatus) *iottypes.JobExecution {
		return waitExecution(t, client, job, thing.ThingName, want)
	}
	recorded := func(job, status string) {
		harness.Eventually(t, 60*time.Second, "the deployment-events Lambda's records of "+job, func() error {
			cur := item(t, db, statusTable, map[string]dbtypes.AttributeValue{"thingName": sAttr(thing.ThingName), "sortKey": sAttr(deploymentevents.CurrentKey(job))})
			if cur["status"] != status {
				return fmt.Errorf("current = %v, want %s", cur, status)
			}
			out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(statusTable), ConsistentRead: aws.Bool(true),
				KeyConditionExpression:    aws.String("thingName = :t AND begins_with(sortKey, :p)"),
				ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":t": sAttr(thing.ThingName), ":p": sAttr("history#" + job + "#")}})
			if err != nil {
				return err
			}
			var got []string
			for _, it := range out.Items {
				got = append(got, attrS(it, "status"))
			}
			if !strings.Contains(strings.Join(got, " "), status) {
				return fmt.Errorf("history rows %v, want one %s", got, status)
			}
			return nil
		})
	}

	// A good release of five components.
	good := cloudRelease{commit: commitOf(t.Name() + "good"), version: "1.0.0", components: map[string]string{}, artifactBytes: 2 << 20}
	for i := range 5 {
		good.components[fmt.Sprintf("com.example.Svc%d", i)] = "sleep 600"
	}
	job := release.JobID(good.commit)
	good.publish(t, s3c, bucket, group)
	created := jobCreated(job)
	for name := range good.components {
		n.WaitState(name, 60*time.Second, "RUNNING")
	}
	running := time.Since(created)
	for name := range good.components {
		if fi, err := os.Stat(filepath.Join(n.Root, "packages", "artifacts", name, "1.0.0", "blob")); err != nil || fi.Size() != 2<<20 {
			t.Errorf("%s's artifact in the component store: %v", name, err)
		}
	}
	e := execution(job, iottypes.JobExecutionStatusSucceeded)
	if e.StatusDetails == nil || e.StatusDetails.DetailsMap["detailed-deployment-status"] != "SUCCESSFUL" {
		t.Errorf("statusDetails = %+v, want detailed-deployment-status SUCCESSFUL", e.StatusDetails)
	}
	recorded(job, "SUCCEEDED")
	if out, err := n.CLI("deployment", "list"); err != nil || !strings.Contains(out, job) || !strings.Contains(out, group) {
		t.Errorf("sward deployment list does not show the cloud deployment %s of %s (%v):\n%s", job, group, err, out)
	}
	if out, err := n.CLI("deployment", "status", job); err != nil || !strings.Contains(out, "Job:") || !strings.Contains(out, good.commit) {
		t.Errorf("sward deployment status %s shows no job and commit (%v):\n%s", job, err, out)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("job created → 5 components (5 × 2 MB artifacts from S3) RUNNING on the device: %.0f ms; load %s", ms(running), strings.TrimSpace(string(load)))

	// A broken release: one component exits at once. The deployment fails
	// and rolls back to the good release; the failure counts against the
	// release's abort criterion, and the deployment-events Lambda cancels
	// the job for the group.
	broken := cloudRelease{commit: commitOf(t.Name() + "broken"), version: "2.0.0", components: map[string]string{
		"com.example.Svc0": "sleep 600", "com.example.Svc1": "exit 3"},
		abort: &release.Abort{Criteria: []release.AbortCriterion{{FailureType: release.FailureFailed, ThresholdPercentage: 50, MinNumberOfExecutedThings: 1}}}}
	bad := release.JobID(broken.commit)
	broken.publish(t, s3c, bucket, group)
	e = execution(bad, iottypes.JobExecutionStatusFailed)
	if got := e.StatusDetails.DetailsMap["detailed-deployment-status"]; got != "FAILED_ROLLBACK_COMPLETE" ||
		!strings.Contains(e.StatusDetails.DetailsMap["deployment-failure-cause"], "com.example.Svc1") {
		t.Errorf("statusDetails = %v, want FAILED_ROLLBACK_COMPLETE naming com.example.Svc1", e.StatusDetails.DetailsMap)
	}
	recorded(bad, "FAILED")
	harness.Eventually(t, 60*time.Second, "the broken release canceled by its abort criterion", func() error {
		rec := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr(bad)})
		if rec["status"] != "CANCELED" || rec["devices_FAILED"] != "1" {
			return fmt.Errorf("the release record = %v, want CANCELED with one device FAILED", rec)
		}
		return nil
	})
	for name := range good.components {
		if c := n.WaitState(name, 30*time.Second, "RUNNING"); c.Version != "1.0.0" {
			t.Errorf("%s runs %s after the rollback, want 1.0.0", name, c.Version)
		}
	}

	// A second thing group of the device deploys one of the first group's
	// components at another version: the union has no version both allow,
	// the deployment fails naming both groups, and nothing changes.
	conflict := cloudRelease{commit: commitOf(t.Name() + "conflict"), version: "3.0.0", components: map[string]string{"com.example.Svc0": "sleep 600"}}
	conflicting := conflict.createJob(t, cl, cameras)
	e = execution(conflicting, iottypes.JobExecutionStatusFailed)
	if cause := e.StatusDetails.DetailsMap["deployment-failure-cause"]; !strings.Contains(cause, "group "+group+" requires 1.0.0") ||
		!strings.Contains(cause, "group "+cameras+" requires 3.0.0") || e.StatusDetails.DetailsMap["detailed-deployment-status"] != "FAILED_NO_STATE_CHANGE" {
		t.Errorf("statusDetails = %v, want FAILED_NO_STATE_CHANGE naming both groups", e.StatusDetails.DetailsMap)
	}

	// Offline: of the releases made while the nucleus is down only the last
	// is taken when it is back: each release supersedes the group's
	// previous one, whose queued execution the release Lambda canceled.
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("the nucleus did not stop")
	}
	var queued []string
	for i, v := range []string{"4.0.0", "5.0.0"} {
		r := cloudRelease{commit: commitOf(fmt.Sprintf("%s-offline-%d", t.Name(), i)), version: v, components: map[string]string{"com.example.Svc0": "sleep 600"}}
		r.publish(t, s3c, bucket, group)
		queued = append(queued, release.JobID(r.commit))
		jobCreated(queued[i])
	}
	execution(queued[0], iottypes.JobExecutionStatusCanceled)
	n = harness.StartAt(t, n.Root, "", "", "--config", config, "--thing-name", thing.ThingName)
	execution(queued[1], iottypes.JobExecutionStatusSucceeded)
	if c := n.WaitState("com.example.Svc0", 30*time.Second, "RUNNING"); c.Version != "5.0.0" {
		t.Errorf("com.example.Svc0 runs %s after the offline releases, want 5.0.0", c.Version)
	}
	if st, err := n.Client().Deployment(ctx, queued[0]); err == nil {
		t.Errorf("the device deployed the superseded release %s: %+v", queued[0], st)
	}

	// The union: the second group deploys a component of its own, and the
	// device runs both groups' components.
	cam := cloudRelease{commit: commitOf(t.Name() + "cameras"), version: "1.0.0", components: map[string]string{"com.example.Camera": "sleep 600"}}
	execution(cam.createJob(t, cl, cameras), iottypes.JobExecutionStatusSucceeded)
	if c := n.WaitState("com.example.Camera", 30*time.Second, "RUNNING"); c.Version != "1.0.0" {
		t.Errorf("com.example.Camera runs %s, want 1.0.0", c.Version)
	}
	if c := n.WaitState("com.example.Svc0", 10*time.Second, "RUNNING"); c.Version != "5.0.0" {
		t.Errorf("com.example.Svc0 of the other group runs %s beside the camera, want 5.0.0", c.Version)
	}

	// A job document from the future is REJECTED, and nothing changes.
	future := "sward-future-" + strings.Repeat("0", 8)
	if _, err := client.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String(future), Targets: []string{groupArn(t, client, group)},
		Document: aws.String(`{"formatVersion": 2, "groupName": "` + group + `", "components": {}}`)}); err != nil {
		t.Fatal(err)
	}
	e = execution(future, iottypes.JobExecutionStatusRejected)
	if cause := e.StatusDetails.DetailsMap["deployment-failure-cause"]; !strings.Contains(cause, "formatVersion: is 2") {
		t.Errorf("deployment-failure-cause = %q, want the format named", cause)
	}
	if c := n.WaitState("com.example.Svc0", 10*time.Second, "RUNNING"); c.Version != "5.0.0" {
		t.Errorf("com.example.Svc0 runs %s after a rejected job, want 5.0.0", c.Version)
	}
}

func groupArn(t *testing.T, client *iot.Client, group string) string {
	t.Helper()
	out, err := client.DescribeThingGroup(context.Background(), &iot.DescribeThingGroupInput{ThingGroupName: aws.String(group)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ThingGroupArn)
}

// TestACloudDeploymentKilledAtAnyPointEndsInATerminalStatusAfterRestart
// sweeps kill -9 over a cloud deployment's stages: releases alternate
// between good and broken (one component exits at once), and the nucleus
// is killed at a growing delay after the job is created (before start-next,
// while the recipes download, while the engine applies, settles, rolls
// back, and after it reported). After a restart on the same root the job's
// execution ends SUCCEEDED (good) or FAILED (broken, rolled back), never
// left IN_PROGRESS, and the device runs the last good release.
func TestACloudDeploymentKilledAtAnyPointEndsInATerminalStatusAfterRestart(t *testing.T) {
	dist := harness.LambdaDist(t, "release")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	const group = "sward-devices"
	thing := createThing(t, d, "crash-thing", "--group", group)
	config := writeTESConfig(t, d, thing, "")
	t.Setenv("AWS_ENDPOINT_URL_S3", d.Info.Endpoints.S3)
	args := []string{"--config", config, "--thing-name", thing.ThingName}
	n := harness.Start(t, "", "", args...)
	root := n.Root

	ctx := context.Background()
	cl := newReleaser(d)
	s3c, bucket, client := cl.s3, cl.bucket, cl.iot
	names := []string{"com.example.Crash0", "com.example.Crash1"}

	lastGood := ""
	stages := map[string]bool{}
	delays := []time.Duration{0, 30 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond,
		500 * time.Millisecond, 800 * time.Millisecond, 1200 * time.Millisecond, 2 * time.Second}
	for i, delay := range delays {
		broken := i%2 == 1 && lastGood != ""
		version := fmt.Sprintf("1.0.%d", i)
		r := cloudRelease{commit: commitOf(fmt.Sprintf("%s-%d", t.Name(), i)), version: version, components: map[string]string{}}
		for _, name := range names {
			r.components[name] = "sleep 600"
		}
		if broken {
			r.components[names[1]] = "exit 3"
		}
		job := release.JobID(r.commit)
		r.publish(t, s3c, bucket, group)
		cl.jobCreated(t, job)
		time.Sleep(delay)
		n.Signal(syscall.SIGKILL)
		stage := killedAt(n.Output(), job)
		stages[stage] = true
		if !n.WaitExit(10 * time.Second) {
			t.Fatal("the nucleus survived kill -9")
		}
		n = harness.StartAt(t, root, "", "", args...)

		want := iottypes.JobExecutionStatusSucceeded
		if broken {
			want = iottypes.JobExecutionStatusFailed
		}
		harness.Eventually(t, 90*time.Second, fmt.Sprintf("job %d (killed after %s) ends %s", i, delay, want), func() error {
			out, err := client.DescribeJobExecution(ctx, &iot.DescribeJobExecutionInput{JobId: aws.String(job), ThingName: aws.String(thing.ThingName)})
			if err != nil {
				return err
			}
			if st := out.Execution.Status; st != want {
				if st != iottypes.JobExecutionStatusQueued && st != iottypes.JobExecutionStatusInProgress {
					return harness.Permanent(fmt.Errorf("execution ended %s (%v), want %s", st, out.Execution.StatusDetails, want))
				}
				return fmt.Errorf("execution is %s", st)
			}
			return nil
		})
		if !broken {
			lastGood = version
		}
		cc := n.Client()
		for _, name := range names {
			harness.Eventually(t, 30*time.Second, name+" RUNNING at "+lastGood, func() error {
				comps, err := cc.Components(ctx)
				if err != nil {
					return err
				}
				for _, c := range comps {
					if c.Name == name && c.State == "RUNNING" && c.Version == lastGood {
						return nil
					}
				}
				return fmt.Errorf("components %+v", comps)
			})
		}
		t.Logf("killed %s after job %d (%s) was created, %s: ended %s", delay, i, map[bool]string{true: "broken", false: "good"}[broken], stage, want)
	}
	for _, want := range []string{stageNotSubmitted, stageApplying, stageReported} {
		if !stages[want] {
			t.Errorf("no kill landed %s (stages hit: %v): adjust the delays", want, stages)
		}
	}
}

// The stages of a cloud deployment a kill can land in, as the killed
// nucleus's log shows them.
const (
	stageNotSubmitted = "before the deployment was submitted"
	stageApplying     = "while the engine applied it"
	stageReported     = "after the outcome was reported"
)

func killedAt(log, job string) string {
	stage := stageNotSubmitted
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, job) {
			continue
		}
		switch {
		case strings.Contains(line, `"job ended"`):
			stage = stageReported
		case strings.Contains(line, `"job submitted to the deployment engine"`) && stage == stageNotSubmitted:
			stage = stageApplying
		}
	}
	return stage
}

// TestCloudJobsReleasedWhileTheLinkIsCutLeaveTheLatestToTakeWhenItIsBack
// cuts the nucleus's link to devcloud (a TCP proxy in front of its MQTT
// endpoint), releases twice meanwhile, and restores it: the second release
// supersedes the first, whose execution is canceled before the device
// hears of it; the second stays QUEUED while the device cannot hear of it
// and is taken once the link connects again.
func TestCloudJobsReleasedWhileTheLinkIsCutLeaveTheLatestToTakeWhenItIsBack(t *testing.T) {
	dist := harness.LambdaDist(t, "release")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	const group = "sward-devices"
	thing := createThing(t, d, "cut-thing", "--group", group)
	link := testutil.StartProxy(t, d.Info.Endpoints.IoTData)
	// A second's backoff at most, so the test does not wait on it.
	config := writeTESConfig(t, d, thing, "      mqtt:\n        maximumReconnectDelaySeconds: 1\n")
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.Replace(string(data), d.Info.Endpoints.IoTData, link.Addr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", d.Info.Endpoints.S3)
	n := harness.Start(t, "", "", "--config", config, "--thing-name", thing.ThingName)
	cl := newReleaser(d)
	ctx := context.Background()
	status := func(job string) iottypes.JobExecutionStatus {
		out, err := cl.iot.DescribeJobExecution(ctx, &iot.DescribeJobExecutionInput{JobId: aws.String(job), ThingName: aws.String(thing.ThingName)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Execution.Status
	}
	releaseVersion := func(v string) string {
		r := cloudRelease{commit: commitOf(t.Name() + v), version: v, components: map[string]string{"com.example.Cut": "sleep 600"}}
		r.publish(t, cl.s3, cl.bucket, group)
		cl.jobCreated(t, release.JobID(r.commit))
		return release.JobID(r.commit)
	}
	succeeded := func(job string) {
		harness.Eventually(t, 60*time.Second, job+" SUCCEEDED", func() error {
			if st := status(job); st != iottypes.JobExecutionStatusSucceeded {
				return fmt.Errorf("execution is %s", st)
			}
			return nil
		})
	}

	succeeded(releaseVersion("1.0.0")) // the link works
	link.Cut()
	superseded, latest := releaseVersion("2.0.0"), releaseVersion("3.0.0")
	harness.Eventually(t, 30*time.Second, superseded+" canceled by the next release", func() error {
		if st := status(superseded); st != iottypes.JobExecutionStatusCanceled {
			return fmt.Errorf("execution is %s", st)
		}
		return nil
	})
	time.Sleep(time.Second)
	if st := status(latest); st != iottypes.JobExecutionStatusQueued {
		t.Fatalf("%s is %s while the link is cut, want QUEUED", latest, st)
	}
	link.Restore()
	restored := time.Now()
	succeeded(latest)
	t.Logf("link restored → the latest queued job SUCCEEDED in %s", time.Since(restored).Round(time.Millisecond))
	if c := n.WaitState("com.example.Cut", 30*time.Second, "RUNNING"); c.Version != "3.0.0" {
		t.Errorf("com.example.Cut runs %s, want the last release's 3.0.0", c.Version)
	}
	cc := n.Client()
	if st, err := cc.Deployment(ctx, latest); err != nil || st.State != deployment.Succeeded {
		t.Errorf("deployment %s = %+v (%v), want SUCCEEDED", latest, st, err)
	}
	if st, err := cc.Deployment(ctx, superseded); err == nil {
		t.Errorf("the device deployed the superseded release %s: %+v", superseded, st)
	}
}

// waitExecution waits up to a minute for thing's execution of job to reach
// want in IoT Jobs, and returns it.
func waitExecution(t *testing.T, client *iot.Client, job, thing string, want iottypes.JobExecutionStatus) *iottypes.JobExecution {
	t.Helper()
	var e *iottypes.JobExecution
	harness.Eventually(t, 60*time.Second, job+" "+string(want), func() error {
		out, err := client.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String(job), ThingName: aws.String(thing)})
		if err != nil {
			return err
		}
		if e = out.Execution; e.Status != want {
			return fmt.Errorf("execution is %s (%v)", e.Status, e.StatusDetails)
		}
		return nil
	})
	return e
}
