package cloud

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/lambdas/release"
	"github.com/sward-iot/sward/shared/deployment"
	sharedrelease "github.com/sward-iot/sward/shared/release"
)

// releaseEnv is an artifacts bucket, a releases table, a thing group and
// the release handler, for one test.
type releaseEnv struct {
	c        clients
	bucket   string
	table    string
	group    string
	groupArn string
	commit   string
	h        *release.Handler
}

func newReleaseEnv(t *testing.T) *releaseEnv {
	t.Helper()
	sum := sha1.Sum([]byte(t.Name()))
	e := &releaseEnv{c: newClients(), bucket: name(t, "art"), table: name(t, "releases"), group: name(t, "group"), commit: hex.EncodeToString(sum[:])}
	createBucket(t, e.c, e.bucket)
	createTable(t, e.c, e.table, "jobId", "")
	out, err := e.c.iot.CreateThingGroup(ctx(t), &iot.CreateThingGroupInput{ThingGroupName: aws.String(e.group)})
	if err != nil {
		t.Fatal(err)
	}
	e.groupArn = aws.ToString(out.ThingGroupArn)
	log, _ := newLog(t, "release")
	e.h = &release.Handler{S3: e.c.s3, IoT: e.c.iot, DB: e.c.db, Table: e.table, Log: log}
	return e
}

func (e *releaseEnv) jobID() string { return sharedrelease.JobID(e.commit) }

// releaseFiles are what `sward publish` uploads: two components, Hello
// (two artifacts, one uploaded with an S3 SHA-256 checksum and one
// without) depending on Lib.
type releaseFiles struct {
	hello, data   []byte // artifact contents as uploaded
	helloDigest   string // what the recipe and manifest say
	dataDigest    string
	skipData      bool   // do not upload the data artifact
	helloRecipe   string // as uploaded
	libRecipe     string
	group         string // thingGroup in the manifest
	manifest      []byte // raw manifest to upload instead of the built one
	manifestEdits func(*sharedrelease.Manifest)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func (e *releaseEnv) files() *releaseFiles {
	f := &releaseFiles{hello: []byte("#!/bin/sh\necho hello\n"), data: []byte("greeting=hi\n"), group: e.group}
	f.helloDigest, f.dataDigest = digest(f.hello), digest(f.data)
	return f
}

func (e *releaseEnv) helloKey() string { return "artifacts/com.example.Hello/1.0.0/hello" }
func (e *releaseEnv) dataKey() string  { return "artifacts/com.example.Hello/1.0.0/data.txt" }

func (e *releaseEnv) recipes(f *releaseFiles) {
	if f.helloRecipe == "" {
		f.helloRecipe = fmt.Sprintf(`RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Hello
ComponentVersion: "1.0.0"
ComponentDependencies:
  com.example.Lib: {VersionRequirement: "^2.0.0"}
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "{artifacts:path}/hello"}
    Artifacts:
      - {URI: "s3://%s/%s", Digest: "%s", Permission: {Execute: OWNER}}
      - {URI: "s3://%s/%s", Digest: "%s"}
`, e.bucket, e.helloKey(), f.helloDigest, e.bucket, e.dataKey(), f.dataDigest)
	}
	if f.libRecipe == "" {
		f.libRecipe = "RecipeFormatVersion: \"2020-01-25\"\nComponentName: com.example.Lib\nComponentVersion: \"2.1.0\"\nManifests:\n  - Lifecycle: {Run: \"true\"}\n"
	}
}

// publish uploads the release and returns the manifest key.
func (e *releaseEnv) publish(t *testing.T, f *releaseFiles) string {
	t.Helper()
	e.recipes(f)
	put := func(key string, body []byte, checksum bool) {
		in := &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
		if checksum {
			in.ChecksumAlgorithm = s3types.ChecksumAlgorithmSha256 // as sward publish uploads
		}
		if _, err := e.c.s3.PutObject(ctx(t), in); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	put(e.helloKey(), f.hello, true)
	if !f.skipData {
		put(e.dataKey(), f.data, false) // another tool: no SHA-256 checksum, so the Lambda hashes it
	}
	helloKey := sharedrelease.RecipeKey(e.commit, "com.example.Hello", "1.0.0")
	libKey := sharedrelease.RecipeKey(e.commit, "com.example.Lib", "2.1.0")
	put(helloKey, []byte(f.helloRecipe), true)
	put(libKey, []byte(f.libRecipe), true)
	data := f.manifest
	if data == nil {
		m := &sharedrelease.Manifest{
			FormatVersion: sharedrelease.FormatVersion,
			CommitID:      e.commit,
			ThingGroup:    f.group,
			Components: map[string]sharedrelease.Component{
				"com.example.Hello": {
					Version: "1.0.0",
					Recipe:  sharedrelease.Object{Key: helloKey, SHA256: digest([]byte(f.helloRecipe))},
					Artifacts: []sharedrelease.Object{
						{Key: e.helloKey(), SHA256: digest(f.hello)},
						{Key: e.dataKey(), SHA256: f.dataDigest},
					},
				},
				"com.example.Lib": {Version: "2.1.0", Recipe: sharedrelease.Object{Key: libKey, SHA256: digest([]byte(f.libRecipe))}},
			},
			Policies:        deployment.DefaultPolicies(),
			TargetSelection: sharedrelease.Snapshot,
			Rollout:         &sharedrelease.Rollout{MaximumPerMinute: 10},
			Abort: &sharedrelease.Abort{Criteria: []sharedrelease.AbortCriterion{
				{FailureType: sharedrelease.FailureFailed, ThresholdPercentage: 50, MinNumberOfExecutedThings: 2},
			}},
		}
		m.Components["com.example.Hello"].Artifacts[0].SHA256 = f.helloDigest
		if f.manifestEdits != nil {
			f.manifestEdits(m)
		}
		var err error
		if data, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	key := sharedrelease.ManifestKey(e.commit)
	put(key, data, true)
	return key
}

// s3Event is the notification S3 sends for key.
func s3Event(t *testing.T, bucket, key string) events.S3Event {
	t.Helper()
	raw := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`, bucket, strings.ReplaceAll(key, "/", "%2F"))
	var ev events.S3Event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e *releaseEnv) handle(t *testing.T, key string) release.Outcome {
	t.Helper()
	out, err := e.h.Handle(ctx(t), s3Event(t, e.bucket, key))
	if err != nil || len(out) != 1 {
		t.Fatalf("Handle = %+v, %v", out, err)
	}
	return out[0]
}

func (e *releaseEnv) record(t *testing.T) map[string]string {
	t.Helper()
	return e.recordOf(t, e.jobID())
}

func (e *releaseEnv) describeJob(t *testing.T) (*iot.DescribeJobOutput, error) {
	t.Helper()
	return e.c.iot.DescribeJob(ctx(t), &iot.DescribeJobInput{JobId: aws.String(e.jobID())})
}

func TestReleaseCreatesTheJobOnce(t *testing.T) {
	e := newReleaseEnv(t)
	key := e.publish(t, e.files())
	moto.StartRecording(t)
	if o := e.handle(t, key); o.Status != release.Created || o.JobID != "sward-"+e.commit {
		t.Fatalf("outcome = %+v, want CREATED", o)
	}

	job, err := e.describeJob(t)
	if err != nil {
		t.Fatal(err)
	}
	j := job.Job
	if len(j.Targets) != 1 || j.Targets[0] != e.groupArn || j.TargetSelection != iottypes.TargetSelectionSnapshot {
		t.Errorf("targets %v (%s), want the group %s, SNAPSHOT", j.Targets, j.TargetSelection, e.groupArn)
	}
	if c := j.AbortConfig.CriteriaList; len(c) != 1 || c[0].Action != iottypes.AbortActionCancel || *c[0].ThresholdPercentage != 50 || *c[0].MinNumberOfExecutedThings != 2 {
		t.Errorf("abort config = %+v", j.AbortConfig)
	}
	if *j.JobExecutionsRolloutConfig.MaximumPerMinute != 10 {
		t.Errorf("rollout = %+v", j.JobExecutionsRolloutConfig)
	}
	doc, err := e.c.iot.GetJobDocument(ctx(t), &iot.GetJobDocumentInput{JobId: aws.String(e.jobID())})
	if err != nil {
		t.Fatal(err)
	}
	d, err := deployment.Decode([]byte(aws.ToString(doc.Document)))
	if err != nil {
		t.Fatalf("the job document is not a deployment document: %v", err)
	}
	if d.GroupName != e.group || d.DeploymentID != e.jobID() || d.Components["com.example.Hello"].Version != "1.0.0" || d.Components["com.example.Lib"].Version != "2.1.0" ||
		d.RecipeSource == nil || d.RecipeSource.Bucket != e.bucket || d.RecipeSource.Prefix != "releases/"+e.commit+"/recipes/" {
		t.Errorf("job document = %s", aws.ToString(doc.Document))
	}
	rec := e.record(t)
	if rec["status"] != "IN_PROGRESS" || rec["commitId"] != e.commit || rec["thingGroup"] != e.group || !strings.Contains(rec["abortCriteria"], `"thresholdPercentage":50`) || rec["jobArn"] == "" {
		t.Errorf("release record = %v", rec)
	}
	var headHello, getHello, getData bool
	for _, r := range moto.Recorded(t) {
		switch {
		case r.Method == http.MethodHead && strings.HasSuffix(r.Path, e.helloKey()):
			headHello = true
		case r.Method == http.MethodGet && strings.HasSuffix(r.Path, e.helloKey()):
			getHello = true
		case r.Method == http.MethodGet && strings.HasSuffix(r.Path, e.dataKey()):
			getData = true
		}
	}
	if !headHello || getHello || !getData {
		t.Errorf("HEAD hello %v, GET hello %v, GET data %v: want the checksummed artifact checked by HEAD alone and the other read and hashed", headHello, getHello, getData)
	}

	// S3 delivers the event again.
	if o := e.handle(t, key); o.Status != release.Exists {
		t.Fatalf("repeated event: outcome = %+v, want EXISTS", o)
	}
	again, err := e.describeJob(t)
	if err != nil || !again.Job.CreatedAt.Equal(*j.CreatedAt) {
		t.Errorf("the job was replaced: created %v, then %v (%v)", j.CreatedAt, again.Job.CreatedAt, err)
	}
}

func TestReleaseRejectsBadReleasesAndCreatesNoJob(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(e *releaseEnv, f *releaseFiles)
		reason string
	}{
		{"artifact differs from its S3 checksum", func(e *releaseEnv, f *releaseFiles) { f.hello = []byte("tampered") },
			`components["com.example.Hello"].artifacts[0]: artifacts/com.example.Hello/1.0.0/hello has SHA-256 `},
		{"artifact without checksum differs when hashed", func(e *releaseEnv, f *releaseFiles) { f.data = []byte("tampered") },
			"artifacts/com.example.Hello/1.0.0/data.txt has SHA-256 "},
		{"missing artifact", func(e *releaseEnv, f *releaseFiles) { f.skipData = true },
			"data.txt does not exist in the bucket; upload it"},
		{"invalid recipe", func(e *releaseEnv, f *releaseFiles) {
			f.libRecipe = "RecipeFormatVersion: \"2020-01-25\"\nComponentName: com.example.Lib\nComponentVersion: \"2.1\"\nManifests:\n  - Lifecycle: {Run: \"true\"}\n"
		}, "ComponentVersion"},
		{"unknown thing group", func(e *releaseEnv, f *releaseFiles) { f.group = "no-such-group" },
			`thing group "no-such-group" does not exist`},
		{"manifest not JSON", func(e *releaseEnv, f *releaseFiles) { f.manifest = []byte("commit: abc") },
			"the release manifest is not valid JSON"},
		{"manifest of another commit", func(e *releaseEnv, f *releaseFiles) {
			f.manifestEdits = func(m *sharedrelease.Manifest) {
				m.CommitID = strings.Repeat("a", 40)
				for name, c := range m.Components {
					c.Recipe.Key = sharedrelease.RecipeKey(m.CommitID, name, c.Version)
					m.Components[name] = c
				}
			}
		}, "commitId: is aaaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newReleaseEnv(t)
			f := e.files()
			tc.edit(e, f)
			o := e.handle(t, e.publish(t, f))
			if o.Status != release.Rejected || !strings.Contains(o.Reason, tc.reason) {
				t.Fatalf("outcome = %+v\nwant REJECTED with %q", o, tc.reason)
			}
			rec := e.record(t)
			if rec["status"] != "REJECTED" || !strings.Contains(rec["reason"], tc.reason) {
				t.Errorf("release record = %v", rec)
			}
			var nf *iottypes.ResourceNotFoundException
			if _, err := e.describeJob(t); !errors.As(err, &nf) {
				t.Errorf("DescribeJob = %v, want ResourceNotFound: no job for a rejected release", err)
			}
		})
	}
}

func TestReleaseFixedAfterRejectionIsCreated(t *testing.T) {
	e := newReleaseEnv(t)
	f := e.files()
	f.skipData = true
	key := e.publish(t, f)
	if o := e.handle(t, key); o.Status != release.Rejected {
		t.Fatalf("outcome = %+v, want REJECTED", o)
	}
	f.skipData = false
	e.publish(t, f) // the artifact uploaded, the manifest written again
	if o := e.handle(t, key); o.Status != release.Created {
		t.Fatalf("outcome after the fix = %+v, want CREATED", o)
	}
	if rec := e.record(t); rec["status"] != "IN_PROGRESS" || rec["reason"] != "" {
		t.Errorf("release record = %v, want IN_PROGRESS without a reason", rec)
	}
}

func TestBadUploadOverAnAcceptedReleaseChangesNothing(t *testing.T) {
	e := newReleaseEnv(t)
	f := e.files()
	key := e.publish(t, f)
	if o := e.handle(t, key); o.Status != release.Created {
		t.Fatalf("outcome = %+v", o)
	}
	f.manifest = []byte(`{"formatVersion":1}`)
	e.publish(t, f)
	if o := e.handle(t, key); o.Status != release.Ignored {
		t.Fatalf("outcome = %+v, want IGNORED", o)
	}
	if rec := e.record(t); rec["status"] != "IN_PROGRESS" {
		t.Errorf("release record = %v, want it still IN_PROGRESS", rec)
	}
}

// releaseOf publishes and handles a release of commit c in e's group and
// returns its outcome; e.commit stays c.
func (e *releaseEnv) releaseOf(t *testing.T, c string) release.Outcome {
	t.Helper()
	e.commit = c
	o := e.handle(t, e.publish(t, e.files()))
	if o.Status != release.Created {
		t.Fatalf("release %s: outcome = %+v, want CREATED", c, o)
	}
	return o
}

func (e *releaseEnv) recordOf(t *testing.T, jobID string) map[string]string {
	t.Helper()
	item := getItem(t, e.c, e.table, sKey("jobId", jobID))
	out := map[string]string{}
	for k := range item {
		out[k] = s(item, k) + n(item, k)
	}
	return out
}

func (e *releaseEnv) jobStatus(t *testing.T, jobID string) (iottypes.JobStatus, string) {
	t.Helper()
	out, err := e.c.iot.DescribeJob(ctx(t), &iot.DescribeJobInput{JobId: aws.String(jobID)})
	if err != nil {
		t.Fatalf("DescribeJob %s: %v", jobID, err)
	}
	return out.Job.Status, aws.ToString(out.Job.ReasonCode)
}

func commitN(t *testing.T, i int) string {
	sum := sha1.Sum([]byte(fmt.Sprint(t.Name(), i)))
	return hex.EncodeToString(sum[:])
}

func TestAReleaseSupersedesTheGroupsPreviousOne(t *testing.T) {
	e := newReleaseEnv(t)
	first, second := commitN(t, 1), commitN(t, 2)
	if o := e.releaseOf(t, first); o.Supersedes != "" {
		t.Errorf("the group's first release supersedes %q, want nothing", o.Supersedes)
	}
	if got := e.recordOf(t, "group#"+e.group)["currentJobId"]; got != sharedrelease.JobID(first) {
		t.Errorf("the group's current job = %q, want %s", got, sharedrelease.JobID(first))
	}
	o := e.releaseOf(t, second)
	if o.Supersedes != sharedrelease.JobID(first) {
		t.Errorf("the second release supersedes %q, want %s", o.Supersedes, sharedrelease.JobID(first))
	}
	if st, code := e.jobStatus(t, sharedrelease.JobID(first)); st != iottypes.JobStatusCanceled || code != release.SupersededReasonCode {
		t.Errorf("the first release's job = %s (%s), want CANCELED (%s)", st, code, release.SupersededReasonCode)
	}
	if st, _ := e.jobStatus(t, sharedrelease.JobID(second)); st == iottypes.JobStatusCanceled {
		t.Errorf("the second release's job = %s, want it running", st) // moto says QUEUED, IoT Core IN_PROGRESS
	}
	old := e.recordOf(t, sharedrelease.JobID(first))
	if old["status"] != "SUPERSEDED" || old["reason"] != "superseded by release "+second || old["supersededBy"] != sharedrelease.JobID(second) {
		t.Errorf("the first release's record = %v, want SUPERSEDED by %s", old, second)
	}
	cur := e.recordOf(t, sharedrelease.JobID(second))
	if cur["status"] != "IN_PROGRESS" || cur["supersedes"] != sharedrelease.JobID(first) {
		t.Errorf("the second release's record = %v, want IN_PROGRESS, superseding %s", cur, sharedrelease.JobID(first))
	}
	if got := e.recordOf(t, "group#"+e.group)["currentJobId"]; got != sharedrelease.JobID(second) {
		t.Errorf("the group's current job = %q, want %s", got, sharedrelease.JobID(second))
	}

	// S3 delivers both events again, the older one last: nothing changes
	// hands, nothing new is canceled.
	moto.StartRecording(t)
	for _, c := range []string{second, first} {
		o := e.handle(t, sharedrelease.ManifestKey(c))
		if o.Status != release.Exists {
			t.Errorf("repeated event of %s: outcome = %+v, want EXISTS", c, o)
		}
	}
	for _, r := range moto.Recorded(t) {
		if strings.Contains(r.Path, "/cancel") && !strings.Contains(r.Path, sharedrelease.JobID(first)) {
			t.Errorf("a repeated event canceled %s %s", r.Method, r.Path)
		}
	}
	if st, _ := e.jobStatus(t, sharedrelease.JobID(second)); st == iottypes.JobStatusCanceled {
		t.Errorf("the second release's job after the repeated events = %s, want it running", st)
	}
	if got := e.recordOf(t, "group#"+e.group)["currentJobId"]; got != sharedrelease.JobID(second) {
		t.Errorf("the group's current job after the repeated events = %q, want %s", got, sharedrelease.JobID(second))
	}
	if rec := e.recordOf(t, sharedrelease.JobID(second)); rec["status"] != "IN_PROGRESS" {
		t.Errorf("the second release's record after the repeated events = %v, want IN_PROGRESS", rec)
	}
}

func TestAReleaseRetriedAfterMovingThePointerCancelsWhatItSuperseded(t *testing.T) {
	e := newReleaseEnv(t)
	first, second := commitN(t, 1), commitN(t, 2)
	e.releaseOf(t, first)
	// The second release's first invocation moved the pointer and failed
	// before CancelJob: its job exists, the pointer names it, the first
	// release is marked superseded but still IN_PROGRESS and its job runs.
	e.commit = second
	key := e.publish(t, e.files())
	e.h.IoT = failingCancel{Jobs: e.c.iot}
	if out, err := e.h.Handle(ctx(t), s3Event(t, e.bucket, key)); err == nil {
		t.Fatalf("Handle with CancelJob failing = %+v, want an error so Lambda retries", out)
	}
	if st, _ := e.jobStatus(t, sharedrelease.JobID(first)); st == iottypes.JobStatusCanceled {
		t.Fatalf("the first job = %s before the retry, want it running", st)
	}
	if rec := e.recordOf(t, sharedrelease.JobID(first)); rec["status"] != "IN_PROGRESS" || rec["supersededBy"] != sharedrelease.JobID(second) {
		t.Fatalf("the first record before the retry = %v", rec)
	}
	e.h.IoT = e.c.iot
	o := e.handle(t, key)
	if o.Status != release.Exists || o.Supersedes != sharedrelease.JobID(first) {
		t.Errorf("retry: outcome = %+v, want EXISTS superseding %s", o, sharedrelease.JobID(first))
	}
	if st, _ := e.jobStatus(t, sharedrelease.JobID(first)); st != iottypes.JobStatusCanceled {
		t.Errorf("the first job after the retry = %s, want CANCELED", st)
	}
	if rec := e.recordOf(t, sharedrelease.JobID(first)); rec["status"] != "SUPERSEDED" {
		t.Errorf("the first record after the retry = %v, want SUPERSEDED", rec)
	}
}

func TestACanceledReleaseKeepsItsReasonWhenSuperseded(t *testing.T) {
	e := newReleaseEnv(t)
	first, second := commitN(t, 1), commitN(t, 2)
	e.releaseOf(t, first)
	// The deployment-events Lambda stopped the first rollout.
	if _, err := e.c.iot.CancelJob(ctx(t), &iot.CancelJobInput{JobId: aws.String(sharedrelease.JobID(first)), ReasonCode: aws.String("SWARD_FAILURE_THRESHOLD")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.db.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{TableName: aws.String(e.table), Key: sKey("jobId", sharedrelease.JobID(first)),
		UpdateExpression:          aws.String("SET #s = :c, #r = :r"),
		ExpressionAttributeNames:  map[string]string{"#s": "status", "#r": "reason"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":c": &dbtypes.AttributeValueMemberS{Value: "CANCELED"}, ":r": &dbtypes.AttributeValueMemberS{Value: "2 of 2 devices failed"}},
	}); err != nil {
		t.Fatal(err)
	}
	if o := e.releaseOf(t, second); o.Supersedes != sharedrelease.JobID(first) {
		t.Errorf("outcome = %+v, want it superseding %s", o, sharedrelease.JobID(first))
	}
	if rec := e.recordOf(t, sharedrelease.JobID(first)); rec["status"] != "CANCELED" || rec["reason"] != "2 of 2 devices failed" {
		t.Errorf("the canceled release's record = %v, want CANCELED with its reason", rec)
	}
	if got := e.recordOf(t, "group#"+e.group)["currentJobId"]; got != sharedrelease.JobID(second) {
		t.Errorf("the group's current job = %q, want %s", got, sharedrelease.JobID(second))
	}
}

// failingCancel is IoT whose CancelJob fails as an outage does.
type failingCancel struct{ release.Jobs }

func (failingCancel) CancelJob(context.Context, *iot.CancelJobInput, ...func(*iot.Options)) (*iot.CancelJobOutput, error) {
	return nil, &iottypes.ServiceUnavailableException{Message: aws.String("test outage")}
}

func TestALateRetryOfAnOlderReleaseDoesNotTakeTheGroupFromANewerOne(t *testing.T) {
	e := newReleaseEnv(t)
	older, newer := commitN(t, 1), commitN(t, 2)
	// The older release is accepted and its job created, but its
	// invocation fails before it moves the group's pointer.
	e.commit = older
	key := e.publish(t, e.files())
	db := e.h.DB
	e.h.DB = failingTransactions{Releases: db}
	if out, err := e.h.Handle(ctx(t), s3Event(t, e.bucket, key)); err == nil {
		t.Fatalf("Handle with the transaction failing = %+v, want an error so Lambda retries", out)
	}
	e.h.DB = db
	// The newer one is released meanwhile, then the older one's retry
	// comes.
	if o := e.releaseOf(t, newer); o.Supersedes != "" {
		t.Errorf("the newer release supersedes %q; the older never became current", o.Supersedes)
	}
	if o := e.handle(t, key); o.Status != release.Exists {
		t.Errorf("the older release's retry: outcome = %+v, want EXISTS", o)
	}
	if got := e.recordOf(t, "group#"+e.group)["currentJobId"]; got != sharedrelease.JobID(newer) {
		t.Errorf("the group's current job = %q, want the newer %s", got, sharedrelease.JobID(newer))
	}
	if st, code := e.jobStatus(t, sharedrelease.JobID(older)); st != iottypes.JobStatusCanceled || code != release.SupersededReasonCode {
		t.Errorf("the older job = %s (%s), want CANCELED (%s)", st, code, release.SupersededReasonCode)
	}
	if st, _ := e.jobStatus(t, sharedrelease.JobID(newer)); st == iottypes.JobStatusCanceled {
		t.Errorf("the newer job = %s, want it running", st)
	}
	if rec := e.recordOf(t, sharedrelease.JobID(older)); rec["status"] != "SUPERSEDED" || rec["reason"] != "superseded by release "+newer {
		t.Errorf("the older record = %v, want SUPERSEDED by %s", rec, newer)
	}
}

// failingTransactions is DynamoDB whose TransactWriteItems fails as an
// outage does.
type failingTransactions struct{ release.Releases }

func (failingTransactions) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, &dbtypes.InternalServerError{Message: aws.String("test outage")}
}
