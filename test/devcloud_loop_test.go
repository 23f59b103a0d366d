package test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
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

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/lambdas/deploymentevents"
	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/shared/topics"
	"github.com/sward-iot/sward/test/harness"
)

// publishRelease does what the release Lambda documents `sward publish`
// doing, through devcloud's S3 endpoint: a component's artifact (with an
// S3 SHA-256 checksum), its recipe under releases/<commit>/recipes/, and
// last the manifest. It returns the time just before the manifest's
// PutObject.
func publishRelease(t *testing.T, s3c *s3.Client, bucket, group, commit, version string) time.Time {
	t.Helper()
	ctx := context.Background()
	put := func(key string, body []byte) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	sha := func(b []byte) string {
		s := sha256.Sum256(b)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	const name = "com.example.Hello"
	artifact := []byte("#!/bin/sh\necho hello " + version + "\n")
	artifactKey := "artifacts/" + name + "/" + version + "/hello"
	recipe := []byte(fmt.Sprintf(`RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "%s"
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "{artifacts:path}/hello"}
    Artifacts:
      - {URI: "s3://%s/%s", Digest: "%s", Permission: {Execute: OWNER}}
`, name, version, bucket, artifactKey, sha(artifact)))
	recipeKey := release.RecipeKey(commit, name, version)
	put(artifactKey, artifact)
	put(recipeKey, recipe)
	m := &release.Manifest{
		FormatVersion: release.FormatVersion,
		CommitID:      commit,
		ThingGroup:    group,
		Components: map[string]release.Component{name: {
			Version:   version,
			Recipe:    release.Object{Key: recipeKey, SHA256: sha(recipe)},
			Artifacts: []release.Object{{Key: artifactKey, SHA256: sha(artifact)}},
		}},
		Policies: deployment.DefaultPolicies(),
		Abort: &release.Abort{Criteria: []release.AbortCriterion{
			{FailureType: release.FailureFailed, ThresholdPercentage: 50, MinNumberOfExecutedThings: 2},
		}},
	}
	manifest, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	put(release.ManifestKey(commit), manifest)
	return start
}

// reportStatus publishes what a device's engine reports on the deployment
// status topic.
func reportStatus(t *testing.T, dev *jobsDevice, job string, s deploymentstatus.Status, at time.Time) {
	t.Helper()
	m := deploymentstatus.Message{FormatVersion: deploymentstatus.FormatVersion, JobID: job, Status: s, Timestamp: at.UnixMilli()}
	payload, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	topic := topics.DeploymentStatus(dev.thing)
	if tok := dev.client.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// item reads one DynamoDB item and returns its string and number
// attributes as text, nil when there is none.
func item(t *testing.T, db *dynamodb.Client, table string, key map[string]dbtypes.AttributeValue) map[string]string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem %s: %v", table, err)
	}
	if len(out.Item) == 0 {
		return nil
	}
	got := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *dbtypes.AttributeValueMemberS:
			got[k] = v.Value
		case *dbtypes.AttributeValueMemberN:
			got[k] = v.Value
		}
	}
	return got
}

func sAttr(s string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: s} }

// releaseLoop is devcloud with the release and deployment-events Lambdas,
// and the clients the loop tests use.
type releaseLoop struct {
	d                     *harness.Devcloud
	s3c                   *s3.Client // through devcloud's S3 endpoint, whose notifications invoke the release Lambda
	bucket                string     // the artifacts bucket
	client                *iot.Client
	db                    *dynamodb.Client
	releases, statusTable string // physical table names
}

func startReleaseLoop(t *testing.T) *releaseLoop {
	t.Helper()
	dist := harness.LambdaDist(t, "release", "deployment-events")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	s3cfg := d.Info.AWSConfig()
	s3cfg.BaseEndpoint = aws.String(d.Info.Endpoints.S3)
	l := &releaseLoop{
		d:      d,
		s3c:    s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		bucket: "sward-artifacts-" + d.Info.AccountID + "-" + d.Info.Region,
		client: iot.NewFromConfig(d.Info.IoTConfig()),
		db:     dynamodb.NewFromConfig(d.Info.AWSConfig()),
	}
	tables, err := l.db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	l.releases = physical(t, tables.TableNames, "SwardCloud-ReleasesTable")
	l.statusTable = physical(t, tables.TableNames, "SwardCloud-DeviceStatusTable")
	return l
}

// TestDevcloudAReleaseBecomesAJobADeviceTakesToSucceededAndItsStatusIsRecorded
// runs the release loop with real parts only: a release written through
// devcloud's S3 endpoint invokes the release Lambda (S3 notification,
// emulator), whose SDK calls create the job through devcloud's control
// plane; a plain MQTT client holding the thing's certificate takes it
// from notify-next to SUCCEEDED; and the status it reports on its
// deployment status topic reaches the deployment-events Lambda through the
// template's rule, which records it in DynamoDB. It prints the time from
// the manifest's upload to notify-next at the device (docs/performance.md).
func TestDevcloudAReleaseBecomesAJobADeviceTakesToSucceededAndItsStatusIsRecorded(t *testing.T) {
	l := startReleaseLoop(t)
	d, s3c, bucket, client, db, releases, statusTable := l.d, l.s3c, l.bucket, l.client, l.db, l.releases, l.statusTable
	const group = "sward-devices"
	dev := connectJobsDevice(t, d, createThing(t, d, "dev1", "--group", group))

	// The first release meets a cold release Lambda, the others a warm one.
	const rounds = 4
	var warm []time.Duration
	var cold time.Duration
	for i := range rounds {
		sum := sha1.Sum([]byte(t.Name() + strconv.Itoa(i)))
		commit := hex.EncodeToString(sum[:])
		job := release.JobID(commit)
		version := "1.0." + strconv.Itoa(i)
		sent := publishRelease(t, s3c, bucket, group, commit, version)

		note := dev.next("notify-next")
		if i == 0 {
			cold = time.Since(sent)
		} else {
			warm = append(warm, time.Since(sent))
		}
		exec, _ := note["execution"].(map[string]any)
		if exec == nil || exec["jobId"] != job || exec["status"] != "QUEUED" {
			t.Fatalf("notify-next = %v, want %s QUEUED; request log:\n%s", note, job, readFile(t, d.Data, devcloud.RequestLogFile))
		}
		// The job document is the deployment document the device's engine
		// decodes.
		raw, err := json.Marshal(exec["jobDocument"])
		if err != nil {
			t.Fatal(err)
		}
		doc, err := deployment.Decode(raw)
		if err != nil {
			t.Fatalf("the job document %s does not decode as a deployment: %v", raw, err)
		}
		if doc.DeploymentID != job || doc.GroupName != group || doc.Components["com.example.Hello"].Version != version {
			t.Fatalf("the job document = %+v, want deployment %s of com.example.Hello %s to %s", doc, job, version, group)
		}

		ok, got := dev.request("start-next", `{"clientToken":"start-`+strconv.Itoa(i)+`"}`)
		if !ok || got["execution"].(map[string]any)["jobId"] != job || got["execution"].(map[string]any)["status"] != "IN_PROGRESS" {
			t.Fatalf("start-next = %v %v, want %s IN_PROGRESS", ok, got, job)
		}
		started := time.Now()
		reportStatus(t, dev, job, deploymentstatus.InProgress, started)
		if st := executionStatus(t, client, job, "dev1"); st != iottypes.JobExecutionStatusInProgress {
			t.Fatalf("DescribeJobExecution after start-next = %s, want IN_PROGRESS", st)
		}
		ok, got = dev.request(job+"/update", `{"status":"SUCCEEDED","expectedVersion":2,"statusDetails":{"detailed-deployment-status":"SUCCESSFUL"}}`)
		if !ok {
			t.Fatalf("update SUCCEEDED rejected: %v", got)
		}
		succeeded := started.Add(time.Millisecond) // the device's clock: after IN_PROGRESS
		reportStatus(t, dev, job, deploymentstatus.Succeeded, succeeded)
		if empty := dev.next("notify-next"); empty["execution"] != nil {
			t.Fatalf("notify-next after the update = %v, want nothing pending", empty)
		}
		if st := executionStatus(t, client, job, "dev1"); st != iottypes.JobExecutionStatusSucceeded {
			t.Fatalf("DescribeJobExecution after the update = %s, want SUCCEEDED", st)
		}

		// The deployment-events Lambda's writes: a history row per message,
		// the device's current status, and the release's device counts.
		// Each message is its own asynchronous invocation, so, as in AWS,
		// SUCCEEDED may be handled before IN_PROGRESS; the Lambda then keeps
		// IN_PROGRESS in the history only.
		history := []struct {
			s  deploymentstatus.Status
			at time.Time
		}{{deploymentstatus.InProgress, started}, {deploymentstatus.Succeeded, succeeded}}
		testutil.Eventually(t, "the deployment-events Lambda's records of "+job, func() error {
			cur := item(t, db, statusTable, map[string]dbtypes.AttributeValue{"thingName": sAttr("dev1"), "sortKey": sAttr(deploymentevents.CurrentKey(job))})
			if cur["status"] != "SUCCEEDED" {
				return fmt.Errorf("current = %v, want SUCCEEDED; request log:\n%s", cur, readFile(t, d.Data, devcloud.RequestLogFile))
			}
			for _, h := range history {
				row := item(t, db, statusTable, map[string]dbtypes.AttributeValue{"thingName": sAttr("dev1"), "sortKey": sAttr(deploymentevents.HistoryKey(job, h.at.UnixMilli(), h.s))})
				if row == nil {
					return fmt.Errorf("no history row of %s", h.s)
				}
				if row["jobId"] != job || row["status"] != string(h.s) || row["timestamp"] != strconv.FormatInt(h.at.UnixMilli(), 10) || row["receivedAt"] == "" {
					return fmt.Errorf("history row of %s = %v, want the message with its receive time", h.s, row)
				}
			}
			return nil
		})
		rec := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr(job)})
		if rec["status"] != "IN_PROGRESS" || rec["commitId"] != commit || rec["thingGroup"] != group || !strings.HasSuffix(rec["jobArn"], ":job/"+job) ||
			rec["devices_SUCCEEDED"] != "1" || (rec["devices_IN_PROGRESS"] != "0" && rec["devices_IN_PROGRESS"] != "") {
			t.Errorf("the release record = %v, want IN_PROGRESS with its job ARN, one device SUCCEEDED and none IN_PROGRESS", rec)
		}
	}

	log := readFile(t, d.Data, devcloud.RequestLogFile)
	for _, want := range []string{
		`msg="s3 notification" bucket=` + bucket + ` key=releases/`,
		`msg="rule fired" rule=sward_deployment_events topic=sward/dev1/deployments/status clientId=dev1`,
		`msg="rule action" rule=sward_deployment_events action=Lambda`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("request log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, `result=error`) {
		t.Errorf("request log has a failure:\n%s", log)
	}
	// The figure's labels: the first release started the release Lambda,
	// the others reused its instance.
	var colds []string
	for _, m := range regexp.MustCompile(`msg="lambda invoke" function=SwardCloud-ReleaseFunction\S* source="s3 [^"]+" .* cold=(\w+) result=ok`).FindAllStringSubmatch(log, -1) {
		colds = append(colds, m[1])
	}
	if want := append([]string{"true"}, slices.Repeat([]string{"false"}, rounds-1)...); !slices.Equal(colds, want) {
		t.Errorf("the release Lambda's invocations were cold %v, want the first only:\n%s", colds, log)
	}
	slices.Sort(warm)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("release manifest PutObject → notify-next at the device: cold release Lambda %.0f ms; warm p50 %.0f ms, max %.0f ms over %d releases; load %s",
		ms(cold), ms(warm[len(warm)/2]), ms(warm[len(warm)-1]), len(warm), strings.TrimSpace(string(load)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// TestDevcloudFailuresReportedOnTheStatusTopicStopTheRolloutThroughTheDeploymentEventsLambda
// runs the other end of the loop: devices report FAILED on their
// deployment status topic (their executions stay IN_PROGRESS, so IoT
// Jobs' own abort config sees nothing), the deployment-events Lambda
// counts them against the release's abort criterion (FAILED ≥ 50 % of at
// least 2) and cancels the job through devcloud's control plane: the
// thing still QUEUED loses its execution.
func TestDevcloudFailuresReportedOnTheStatusTopicStopTheRolloutThroughTheDeploymentEventsLambda(t *testing.T) {
	dist := harness.LambdaDist(t, "release", "deployment-events")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	const group = "sward-devices"
	var devs []*jobsDevice
	for _, name := range []string{"dev1", "dev2", "dev3"} {
		devs = append(devs, connectJobsDevice(t, d, createThing(t, d, name, "--group", group)))
	}
	ctx := context.Background()
	s3cfg := d.Info.AWSConfig()
	s3cfg.BaseEndpoint = aws.String(d.Info.Endpoints.S3)
	s3c := s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true })
	sum := sha1.Sum([]byte(t.Name()))
	commit := hex.EncodeToString(sum[:])
	job := release.JobID(commit)
	publishRelease(t, s3c, "sward-artifacts-"+d.Info.AccountID+"-"+d.Info.Region, group, commit, "2.0.0")
	for _, dev := range devs {
		if note := dev.next("notify-next"); note["execution"] == nil || note["execution"].(map[string]any)["jobId"] != job {
			t.Fatalf("%s: notify-next = %v, want %s", dev.thing, note, job)
		}
	}
	at := time.Now()
	for _, dev := range devs[:2] {
		if ok, got := dev.request("start-next", `{}`); !ok {
			t.Fatalf("%s: start-next rejected: %v", dev.thing, got)
		}
		reportStatus(t, dev, job, deploymentstatus.Failed, at)
	}

	// dev3's QUEUED execution is canceled; the IN_PROGRESS ones go on, as
	// CancelJob without force leaves them.
	if note := devs[2].next("notify-next"); note["execution"] != nil {
		t.Fatalf("dev3: notify-next = %v, want nothing pending once the job is canceled; request log:\n%s", note, readFile(t, d.Data, devcloud.RequestLogFile))
	}
	client := iot.NewFromConfig(d.Info.IoTConfig())
	out, err := client.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(job)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Job.Status != iottypes.JobStatusCanceled || aws.ToString(out.Job.ReasonCode) != deploymentevents.CancelReasonCode || !strings.Contains(aws.ToString(out.Job.Comment), "2 of 2 devices that finished failed") {
		t.Errorf("the job = %s, reason %q, comment %q; want CANCELED by the deployment-events Lambda (%s) saying why",
			out.Job.Status, aws.ToString(out.Job.ReasonCode), aws.ToString(out.Job.Comment), deploymentevents.CancelReasonCode)
	}
	for thing, want := range map[string]iottypes.JobExecutionStatus{"dev1": iottypes.JobExecutionStatusInProgress, "dev2": iottypes.JobExecutionStatusInProgress, "dev3": iottypes.JobExecutionStatusCanceled} {
		if st := executionStatus(t, client, job, thing); st != want {
			t.Errorf("%s's execution = %s, want %s", thing, st, want)
		}
	}
	db := dynamodb.NewFromConfig(d.Info.AWSConfig())
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	releases := physical(t, tables.TableNames, "SwardCloud-ReleasesTable")
	// The Lambda records the cancel after CancelJob has answered.
	testutil.Eventually(t, "the release recorded as CANCELED", func() error {
		rec := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr(job)})
		if rec["status"] != "CANCELED" || rec["devices_FAILED"] != "2" || !strings.Contains(rec["reason"], "abort criterion FAILED") {
			return fmt.Errorf("the release record = %v, want CANCELED with two devices FAILED and the criterion as reason", rec)
		}
		return nil
	})
}

// TestDevcloudANewReleaseSupersedesThePreviousOneSoAThingJoiningLaterGetsOnlyTheLatest
// publishes two releases to a group through devcloud. The second release's
// Lambda invocation cancels the first job without force: dev1, already
// deploying the first, finishes it and then gets the second; the first
// release is recorded SUPERSEDED; and dev2, added to the group afterwards,
// gets the second release only, not every past one.
func TestDevcloudANewReleaseSupersedesThePreviousOneSoAThingJoiningLaterGetsOnlyTheLatest(t *testing.T) {
	l := startReleaseLoop(t)
	d, s3c, bucket, client, db, releases := l.d, l.s3c, l.bucket, l.client, l.db, l.releases
	ctx := context.Background()
	const group = "sward-devices"
	dev1 := connectJobsDevice(t, d, createThing(t, d, "dev1", "--group", group))
	var commits, jobs []string
	for i := range 2 {
		sum := sha1.Sum([]byte(t.Name() + strconv.Itoa(i)))
		commits = append(commits, hex.EncodeToString(sum[:]))
		jobs = append(jobs, release.JobID(commits[i]))
	}

	publishRelease(t, s3c, bucket, group, commits[0], "1.0.0")
	if note := dev1.next("notify-next"); note["execution"] == nil || note["execution"].(map[string]any)["jobId"] != jobs[0] {
		t.Fatalf("dev1: notify-next = %v, want %s; request log:\n%s", note, jobs[0], readFile(t, d.Data, devcloud.RequestLogFile))
	}
	if ok, got := dev1.request("start-next", `{}`); !ok || got["execution"].(map[string]any)["jobId"] != jobs[0] {
		t.Fatalf("dev1: start-next = %v %v, want %s", ok, got, jobs[0])
	}

	publishRelease(t, s3c, bucket, group, commits[1], "1.0.1")
	testutil.Eventually(t, "the first release recorded as SUPERSEDED", func() error {
		rec := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr(jobs[0])})
		if rec["status"] != "SUPERSEDED" || rec["reason"] != "superseded by release "+commits[1] {
			return fmt.Errorf("the first release's record = %v, want SUPERSEDED by %s; request log:\n%s", rec, commits[1], readFile(t, d.Data, devcloud.RequestLogFile))
		}
		return nil
	})
	out, err := client.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(jobs[0])})
	if err != nil {
		t.Fatal(err)
	}
	if out.Job.Status != iottypes.JobStatusCanceled || aws.ToString(out.Job.ReasonCode) != "SWARD_SUPERSEDED" || aws.ToBool(out.Job.ForceCanceled) {
		t.Errorf("the first job = %s, reason %q, forced %v; want CANCELED, SWARD_SUPERSEDED, not forced", out.Job.Status, aws.ToString(out.Job.ReasonCode), aws.ToBool(out.Job.ForceCanceled))
	}
	if rec := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr(jobs[1])}); rec["status"] != "IN_PROGRESS" || rec["supersedes"] != jobs[0] {
		t.Errorf("the second release's record = %v, want IN_PROGRESS superseding %s", rec, jobs[0])
	}
	if g := item(t, db, releases, map[string]dbtypes.AttributeValue{"jobId": sAttr("group#" + group)}); g["currentJobId"] != jobs[1] {
		t.Errorf("the group's item = %v, want its current job %s", g, jobs[1])
	}

	// dev1 was deploying the first release: it finishes and reports, then
	// gets the second.
	if st := executionStatus(t, client, jobs[0], "dev1"); st != iottypes.JobExecutionStatusInProgress {
		t.Errorf("dev1's execution of the superseded job = %s, want IN_PROGRESS (CancelJob without force)", st)
	}
	if ok, got := dev1.request(jobs[0]+"/update", `{"status":"SUCCEEDED"}`); !ok {
		t.Errorf("dev1: SUCCEEDED for the superseded job rejected: %v", got)
	}
	if note := dev1.next("notify-next"); note["execution"] == nil || note["execution"].(map[string]any)["jobId"] != jobs[1] {
		t.Errorf("dev1: notify-next after finishing the first = %v, want %s", note, jobs[1])
	}

	// dev2 joins the group after both releases.
	dev2 := connectJobsDevice(t, d, createThing(t, d, "dev2", "--group", group))
	testutil.Eventually(t, "dev2 gets the current release's job", func() error {
		ids, err := executionsOf(ctx, client, "dev2")
		if err != nil {
			return err
		}
		if !slices.Equal(ids, []string{jobs[1]}) {
			return fmt.Errorf("dev2's executions: %v, want %s only", ids, jobs[1])
		}
		return nil
	})
	// What dev2 asks for: its notify-next may come before the answer or
	// have gone out before it subscribed; either way it names the second
	// job only.
	prefix := "$aws/things/dev2/jobs/"
	if tok := dev2.client.Publish(prefix+"get", 1, false, `{}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish get: %v", tok.Error())
	}
	for {
		m := testutil.Receive(t, dev2.got, "dev2's get/accepted")
		var doc map[string]any
		if err := json.Unmarshal(m.Payload(), &doc); err != nil {
			t.Fatalf("%s: %s: %v", m.Topic(), m.Payload(), err)
		}
		if m.Topic() == prefix+"notify-next" {
			if x, _ := doc["execution"].(map[string]any); x == nil || x["jobId"] != jobs[1] {
				t.Errorf("dev2: notify-next = %s, want %s", m.Payload(), jobs[1])
			}
			continue
		}
		queued, _ := doc["queuedJobs"].([]any)
		inProgress, _ := doc["inProgressJobs"].([]any)
		if m.Topic() != prefix+"get/accepted" || len(queued) != 1 || queued[0].(map[string]any)["jobId"] != jobs[1] || len(inProgress) != 0 {
			t.Errorf("dev2: %s = %s, want get/accepted with the second release's job queued, and nothing else", m.Topic(), m.Payload())
		}
		break
	}
	// start-next, which the device's jobs client (edge/jobs) sends, starts
	// the second release.
	if ok, got := dev2.request("start-next", `{}`); !ok || got["execution"] == nil || got["execution"].(map[string]any)["jobId"] != jobs[1] {
		t.Errorf("dev2: start-next = %v %v, want %s", ok, got, jobs[1])
	}
}
