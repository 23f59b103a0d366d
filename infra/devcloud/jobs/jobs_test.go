package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// fakeTargets is an IoT control plane's things and groups.
type fakeTargets struct {
	mu     sync.Mutex
	things map[string]bool
	groups map[string][]string
}

func (f *fakeTargets) ThingExists(_ context.Context, thing string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.things[thing], nil
}

func (f *fakeTargets) ThingsInGroup(_ context.Context, group string) ([]string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	things, ok := f.groups[group]
	return slices.Clone(things), ok, nil
}

func (f *fakeTargets) setGroup(group string, things ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[group] = things
}

// message is a publish or an answer the service sent.
type message struct {
	client, topic string // client is empty for a publish to subscribers
	payload       map[string]any
}

// fixture is a Service on a temporary folder with a fake clock, its
// control plane behind an iot SDK client, and what it sent.
type fixture struct {
	t       *testing.T
	dir     string
	svc     *Service
	iot     *iot.Client
	targets *fakeTargets
	now     time.Time

	mu   sync.Mutex
	sent []message
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), now: time.Unix(1_800_000_000, 0),
		targets: &fakeTargets{things: map[string]bool{"dev1": true, "dev2": true, "dev3": true}, groups: map[string][]string{"fleet": {"dev1", "dev2"}}}}
	f.start()
	return f
}

// start (re)creates the service on f.dir, as a devcloud restart does.
func (f *fixture) start() {
	f.t.Helper()
	svc, err := New(Options{
		Dir: f.dir, Region: "us-east-1", AccountID: "123456789012", Targets: f.targets,
		Publish: func(topic string, payload []byte) { f.record("", topic, payload) },
		Reply: func(client, topic string, payload []byte) error {
			f.record(client, topic, payload)
			return nil
		},
		Now: func() time.Time { return f.now },
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = svc
	mux := http.NewServeMux()
	svc.RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	f.iot = iot.New(iot.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
}

func (f *fixture) record(client, topic string, payload []byte) {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		f.t.Errorf("%s: payload %s is not a JSON object: %v", topic, payload, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, message{client, topic, m})
}

// take returns and forgets what was sent on topic.
func (f *fixture) take(topic string) []message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var got, rest []message
	for _, m := range f.sent {
		if m.topic == topic {
			got = append(got, m)
		} else {
			rest = append(rest, m)
		}
	}
	f.sent = rest
	return got
}

// request publishes payload on topic as client dev-client and returns the
// one answer, on topic/accepted or topic/rejected.
func (f *fixture) request(topic, payload string) (accepted bool, answer map[string]any) {
	f.t.Helper()
	f.svc.HandleMQTT("dev-client", topic, []byte(payload))
	acc, rej := f.take(topic+"/accepted"), f.take(topic+"/rejected")
	if len(acc)+len(rej) != 1 {
		f.t.Fatalf("%s: %d accepted and %d rejected answers, want one", topic, len(acc), len(rej))
	}
	if len(acc) == 1 {
		if acc[0].client != "dev-client" {
			f.t.Errorf("%s/accepted went to %q, want the requester only", topic, acc[0].client)
		}
		return true, acc[0].payload
	}
	if rej[0].client != "dev-client" {
		f.t.Errorf("%s/rejected went to %q, want the requester only", topic, rej[0].client)
	}
	return false, rej[0].payload
}

func (f *fixture) createJob(in *iot.CreateJobInput) {
	f.t.Helper()
	if _, err := f.iot.CreateJob(context.Background(), in); err != nil {
		f.t.Fatalf("CreateJob %s: %v", aws.ToString(in.JobId), err)
	}
}

func thingArn(name string) string { return "arn:aws:iot:us-east-1:123456789012:thing/" + name }
func groupArn(name string) string { return "arn:aws:iot:us-east-1:123456789012:thinggroup/" + name }

func (f *fixture) executionStatus(job, thing string) iottypes.JobExecutionStatus {
	f.t.Helper()
	out, err := f.iot.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String(job), ThingName: aws.String(thing)})
	if err != nil {
		f.t.Fatalf("DescribeJobExecution %s %s: %v", job, thing, err)
	}
	return out.Execution.Status
}

func (f *fixture) jobStatus(job string) iottypes.JobStatus {
	f.t.Helper()
	out, err := f.iot.DescribeJob(context.Background(), &iot.DescribeJobInput{JobId: aws.String(job)})
	if err != nil {
		f.t.Fatalf("DescribeJob %s: %v", job, err)
	}
	return out.Job.Status
}

const prefix = "$aws/things/dev1/jobs/"

func TestADeviceTakesAJobFromNotifyNextThroughStartNextToSucceeded(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{"operation": "install"}`)})

	next := f.take(prefix + "notify-next")
	if len(next) != 1 || next[0].client != "" {
		t.Fatalf("notify-next after CreateJob = %+v, want one publish to subscribers", next)
	}
	exec := next[0].payload["execution"].(map[string]any)
	if exec["jobId"] != "job1" || exec["status"] != "QUEUED" || exec["thingName"] != "dev1" || exec["versionNumber"] != 1.0 || exec["executionNumber"] != 1.0 {
		t.Errorf("notify-next execution = %v, want job1 QUEUED for dev1, version 1, execution 1", exec)
	}
	if doc, ok := exec["jobDocument"].(map[string]any); !ok || doc["operation"] != "install" {
		t.Errorf("notify-next jobDocument = %#v, want the document as a JSON object", exec["jobDocument"])
	}
	if ts := next[0].payload["timestamp"].(float64); ts != float64(f.now.Unix()) {
		t.Errorf("timestamp = %v, want epoch seconds %d", ts, f.now.Unix())
	}
	notify := f.take(prefix + "notify")
	if len(notify) != 1 || len(notify[0].payload["jobs"].(map[string]any)["QUEUED"].([]any)) != 1 {
		t.Errorf("notify after CreateJob = %+v, want job1 QUEUED", notify)
	}

	ok, got := f.request(prefix+"get", `{"clientToken":"t0"}`)
	if !ok || len(got["queuedJobs"].([]any)) != 1 || len(got["inProgressJobs"].([]any)) != 0 || got["clientToken"] != "t0" {
		t.Errorf("get = %v %v, want job1 queued and the client token", ok, got)
	}

	f.now = f.now.Add(time.Second)
	ok, got = f.request(prefix+"start-next", `{"clientToken":"t1","statusDetails":{"step":"download"}}`)
	if !ok {
		t.Fatalf("start-next rejected: %v", got)
	}
	exec = got["execution"].(map[string]any)
	if exec["status"] != "IN_PROGRESS" || exec["versionNumber"] != 2.0 || exec["startedAt"] != float64(f.now.Unix()) || got["clientToken"] != "t1" {
		t.Errorf("start-next execution = %v, want IN_PROGRESS, version 2, startedAt now", got)
	}
	if exec["statusDetails"].(map[string]any)["step"] != "download" {
		t.Errorf("start-next statusDetails = %v, want step=download", exec["statusDetails"])
	}
	if n := f.take(prefix + "notify-next"); len(n) != 0 {
		t.Errorf("notify-next when the next execution stayed job1 = %+v, want none", n)
	}
	if got := f.executionStatus("job1", "dev1"); got != iottypes.JobExecutionStatusInProgress {
		t.Errorf("DescribeJobExecution = %s, want IN_PROGRESS", got)
	}

	ok, got = f.request(prefix+"job1/update", `{"status":"SUCCEEDED","expectedVersion":2,"includeJobExecutionState":true,"includeJobDocument":true,"clientToken":"t2"}`)
	if !ok {
		t.Fatalf("update rejected: %v", got)
	}
	state := got["executionState"].(map[string]any)
	if state["status"] != "SUCCEEDED" || state["versionNumber"] != 3.0 || got["jobDocument"].(map[string]any)["operation"] != "install" || got["clientToken"] != "t2" {
		t.Errorf("update accepted = %v, want SUCCEEDED version 3 with the document", got)
	}
	if got := f.executionStatus("job1", "dev1"); got != iottypes.JobExecutionStatusSucceeded {
		t.Errorf("DescribeJobExecution = %s, want SUCCEEDED", got)
	}
	if got := f.jobStatus("job1"); got != iottypes.JobStatusCompleted {
		t.Errorf("DescribeJob = %s, want COMPLETED (a snapshot job whose executions all ended)", got)
	}
	next = f.take(prefix + "notify-next")
	if len(next) != 1 || next[0].payload["execution"] != nil {
		t.Errorf("notify-next after the last execution ended = %+v, want {timestamp} only", next)
	}
	ok, got = f.request(prefix+"start-next", `{}`)
	if !ok || got["execution"] != nil {
		t.Errorf("start-next with nothing pending = %v %v, want accepted without execution", ok, got)
	}
}

func TestBadDeviceRequestsAreRejectedWithAWSCodes(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)})
	f.createJob(&iot.CreateJobInput{JobId: aws.String("done"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)})
	if ok, got := f.request(prefix+"done/update", `{"status":"SUCCEEDED"}`); !ok {
		t.Fatalf("finishing job done: %v", got)
	}
	tests := []struct {
		name, topic, payload string
		code                 string
		wantState            bool
	}{
		{"malformed JSON", prefix + "job1/update", `{"status":`, CodeInvalidJSON, false},
		{"JSON that is not an object", prefix + "job1/update", `[1]`, CodeInvalidRequest, false},
		{"no status", prefix + "job1/update", `{"clientToken":"c"}`, CodeInvalidRequest, false},
		{"a status the device may not set", prefix + "job1/update", `{"status":"QUEUED","clientToken":"c"}`, CodeInvalidRequest, false},
		{"an unknown status", prefix + "job1/update", `{"status":"DONE","clientToken":"c"}`, CodeInvalidRequest, false},
		{"a statusDetails key with a space", prefix + "job1/update", `{"status":"IN_PROGRESS","statusDetails":{"a b":"x"},"clientToken":"c"}`, CodeInvalidRequest, false},
		{"an empty statusDetails value", prefix + "job1/update", `{"status":"IN_PROGRESS","statusDetails":{"a":""},"clientToken":"c"}`, CodeInvalidRequest, false},
		{"a step timeout over 7 days", prefix + "job1/update", `{"status":"IN_PROGRESS","stepTimeoutInMinutes":10081,"clientToken":"c"}`, CodeInvalidRequest, false},
		{"a stale expectedVersion", prefix + "job1/update", `{"status":"IN_PROGRESS","expectedVersion":7,"clientToken":"c"}`, CodeVersionMismatch, true},
		{"an update of a terminal execution", prefix + "done/update", `{"status":"IN_PROGRESS","clientToken":"c"}`, CodeInvalidStateTransition, true},
		{"an unknown job", prefix + "nojob/update", `{"status":"IN_PROGRESS","clientToken":"c"}`, CodeResourceNotFound, false},
		{"an unknown job's get", prefix + "nojob/get", `{"clientToken":"c"}`, CodeResourceNotFound, false},
		{"another execution number", prefix + "job1/get", `{"executionNumber":2,"clientToken":"c"}`, CodeResourceNotFound, false},
		{"a topic of no operation", prefix + "job1/delete", `{}`, CodeInvalidTopic, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, got := f.request(tt.topic, tt.payload)
			if ok {
				t.Fatalf("accepted: %v", got)
			}
			if got["code"] != tt.code || got["message"] == "" || got["timestamp"] == nil {
				t.Errorf("rejected = %v, want code %s with a message and timestamp", got, tt.code)
			}
			if strings.Contains(tt.payload, `"clientToken":"c"`) && got["clientToken"] != "c" {
				t.Errorf("clientToken = %v, want c echoed", got["clientToken"])
			}
			if _, has := got["executionState"]; has != tt.wantState {
				t.Errorf("executionState present = %v, want %v (only with InvalidStateTransition and VersionMismatch)", has, tt.wantState)
			}
		})
	}
	if got := f.executionStatus("job1", "dev1"); got != iottypes.JobExecutionStatusQueued {
		t.Errorf("job1 after the rejected updates = %s, want QUEUED unchanged", got)
	}
}

func TestControlPlaneRefusesWhatIoTJobsRefuses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)})
	var exists *iottypes.ResourceAlreadyExistsException
	if _, err := f.iot.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)}); !errors.As(err, &exists) {
		t.Errorf("CreateJob of an existing id: err = %v, want ResourceAlreadyExistsException", err)
	}
	invalid := []*iot.CreateJobInput{
		{JobId: aws.String("bad id"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)},
		{JobId: aws.String("j"), Targets: []string{"dev1"}, Document: aws.String(`{}`)},
		{JobId: aws.String("j"), Targets: []string{thingArn("dev1")}, Document: aws.String(`not json`)},
		{JobId: aws.String("j"), Targets: []string{thingArn("dev1")}},
		{JobId: aws.String("j"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{"a":"` + strings.Repeat("x", MaxDocumentChars) + `"}`)},
		{JobId: aws.String("j"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`), TimeoutConfig: &iottypes.TimeoutConfig{InProgressTimeoutInMinutes: aws.Int64(10081)}},
		{JobId: aws.String("j"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`), AbortConfig: &iottypes.AbortConfig{CriteriaList: []iottypes.AbortCriteria{
			{Action: iottypes.AbortActionCancel, FailureType: "BROKEN", ThresholdPercentage: aws.Float64(10), MinNumberOfExecutedThings: aws.Int32(1)}}}},
	}
	for i, in := range invalid {
		var e *iottypes.InvalidRequestException
		if _, err := f.iot.CreateJob(ctx, in); !errors.As(err, &e) {
			t.Errorf("CreateJob #%d: err = %v, want InvalidRequestException", i, err)
		}
	}
	var notFound *iottypes.ResourceNotFoundException
	if _, err := f.iot.CreateJob(ctx, &iot.CreateJobInput{JobId: aws.String("j"), Targets: []string{groupArn("nogroup")}, Document: aws.String(`{}`)}); !errors.As(err, &notFound) {
		t.Errorf("CreateJob on a missing group: err = %v, want ResourceNotFoundException", err)
	}
	if _, err := f.iot.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("nojob")}); !errors.As(err, &notFound) {
		t.Errorf("DescribeJob of no job: err = %v, want ResourceNotFoundException", err)
	}
	var transition *iottypes.InvalidStateTransitionException
	if _, err := f.iot.DeleteJob(ctx, &iot.DeleteJobInput{JobId: aws.String("job1")}); !errors.As(err, &transition) {
		t.Errorf("DeleteJob of an IN_PROGRESS job without force: err = %v, want InvalidStateTransitionException", err)
	}
}

func TestCancelingJobsAndExecutions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{groupArn("fleet")}, Document: aws.String(`{}`)})
	if ok, got := f.request(prefix+"start-next", `{}`); !ok {
		t.Fatalf("start-next: %v", got)
	}
	var transition *iottypes.InvalidStateTransitionException
	if _, err := f.iot.CancelJobExecution(ctx, &iot.CancelJobExecutionInput{JobId: aws.String("job1"), ThingName: aws.String("dev1")}); !errors.As(err, &transition) {
		t.Errorf("CancelJobExecution of an IN_PROGRESS execution without force: err = %v, want InvalidStateTransitionException", err)
	}
	var conflict *iottypes.VersionConflictException
	if _, err := f.iot.CancelJobExecution(ctx, &iot.CancelJobExecutionInput{JobId: aws.String("job1"), ThingName: aws.String("dev2"), ExpectedVersion: aws.Int64(5)}); !errors.As(err, &conflict) {
		t.Errorf("CancelJobExecution with a stale expectedVersion: err = %v, want VersionConflictException", err)
	}

	// Without force only the QUEUED execution (dev2) is canceled.
	if _, err := f.iot.CancelJob(ctx, &iot.CancelJobInput{JobId: aws.String("job1"), ReasonCode: aws.String("TEST"), Comment: aws.String("stop")}); err != nil {
		t.Fatal(err)
	}
	if a, b := f.executionStatus("job1", "dev1"), f.executionStatus("job1", "dev2"); a != iottypes.JobExecutionStatusInProgress || b != iottypes.JobExecutionStatusCanceled {
		t.Errorf("after CancelJob: dev1 %s, dev2 %s; want IN_PROGRESS and CANCELED", a, b)
	}
	job, err := f.iot.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("job1")})
	if err != nil {
		t.Fatal(err)
	}
	if job.Job.Status != iottypes.JobStatusCanceled || aws.ToString(job.Job.ReasonCode) != "TEST" || aws.ToBool(job.Job.ForceCanceled) {
		t.Errorf("job after CancelJob = %s %s forceCanceled %v, want CANCELED TEST false", job.Job.Status, aws.ToString(job.Job.ReasonCode), aws.ToBool(job.Job.ForceCanceled))
	}
	if n := f.take("$aws/things/dev2/jobs/notify-next"); len(n) == 0 || n[len(n)-1].payload["execution"] != nil {
		t.Errorf("dev2's notify-next after the cancel = %+v, want an empty one", n)
	}
	// The device may still finish what it started.
	if ok, got := f.request(prefix+"job1/update", `{"status":"IN_PROGRESS","statusDetails":{"p":"50"}}`); !ok {
		t.Errorf("update of an IN_PROGRESS execution of a canceled job: %v", got)
	}

	// With force the IN_PROGRESS one goes too, and the device is refused.
	if _, err := f.iot.CancelJob(ctx, &iot.CancelJobInput{JobId: aws.String("job1"), Force: true}); err != nil {
		t.Fatal(err)
	}
	x, err := f.iot.DescribeJobExecution(ctx, &iot.DescribeJobExecutionInput{JobId: aws.String("job1"), ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatal(err)
	}
	if x.Execution.Status != iottypes.JobExecutionStatusCanceled || !aws.ToBool(x.Execution.ForceCanceled) {
		t.Errorf("dev1 after CancelJob force = %s forceCanceled %v, want CANCELED true", x.Execution.Status, aws.ToBool(x.Execution.ForceCanceled))
	}
	if ok, got := f.request(prefix+"job1/update", `{"status":"SUCCEEDED"}`); ok || got["code"] != CodeInvalidStateTransition {
		t.Errorf("update after the forced cancel = %v %v, want InvalidStateTransition", ok, got)
	}
	if _, err := f.iot.DeleteJob(ctx, &iot.DeleteJobInput{JobId: aws.String("job1")}); err != nil {
		t.Errorf("DeleteJob of a CANCELED job: %v", err)
	}
	var notFound *iottypes.ResourceNotFoundException
	if _, err := f.iot.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("job1")}); !errors.As(err, &notFound) {
		t.Errorf("DescribeJob after DeleteJob: err = %v, want ResourceNotFoundException", err)
	}
}

func TestAContinuousJobReachesThingsThatJoinItsGroupLater(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("cont"), Targets: []string{groupArn("fleet")}, Document: aws.String(`{}`), TargetSelection: iottypes.TargetSelectionContinuous})
	f.createJob(&iot.CreateJobInput{JobId: aws.String("snap"), Targets: []string{groupArn("fleet")}, Document: aws.String(`{}`)})
	f.targets.setGroup("fleet", "dev1", "dev3")
	f.svc.refreshTargets()

	if got := f.executionStatus("cont", "dev3"); got != iottypes.JobExecutionStatusQueued {
		t.Errorf("cont for dev3 that joined = %s, want QUEUED", got)
	}
	if n := f.take("$aws/things/dev3/jobs/notify-next"); len(n) != 1 || n[0].payload["execution"].(map[string]any)["jobId"] != "cont" {
		t.Errorf("dev3's notify-next = %+v, want cont", n)
	}
	var notFound *iottypes.ResourceNotFoundException
	if _, err := f.iot.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String("snap"), ThingName: aws.String("dev3")}); !errors.As(err, &notFound) {
		t.Errorf("a SNAPSHOT job for a thing that joined later: err = %v, want ResourceNotFoundException", err)
	}
	if got := f.executionStatus("cont", "dev2"); got != iottypes.JobExecutionStatusRemoved {
		t.Errorf("cont for dev2 that left = %s, want REMOVED", got)
	}
	if got := f.jobStatus("cont"); got != iottypes.JobStatusInProgress {
		t.Errorf("continuous job = %s, want IN_PROGRESS (it never completes)", got)
	}

	// Back in the group, dev2 gets the job again as execution 2.
	f.targets.setGroup("fleet", "dev1", "dev2", "dev3")
	f.svc.refreshTargets()
	x, err := f.iot.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String("cont"), ThingName: aws.String("dev2")})
	if err != nil {
		t.Fatal(err)
	}
	if x.Execution.Status != iottypes.JobExecutionStatusQueued || aws.ToInt64(x.Execution.ExecutionNumber) != 2 {
		t.Errorf("cont for dev2 back in the group = %s execution %d, want QUEUED execution 2", x.Execution.Status, aws.ToInt64(x.Execution.ExecutionNumber))
	}
}

// TestACanceledContinuousJobReachesNoThingThatJoinsLater is what the
// release Lambda relies on when a release supersedes its group's previous
// one: after CancelJob (without force) a thing joining the group gets only
// the jobs still in progress.
func TestACanceledContinuousJobReachesNoThingThatJoinsLater(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"old", "new"} {
		f.createJob(&iot.CreateJobInput{JobId: aws.String(id), Targets: []string{groupArn("fleet")}, Document: aws.String(`{}`), TargetSelection: iottypes.TargetSelectionContinuous})
	}
	if _, err := f.iot.CancelJob(context.Background(), &iot.CancelJobInput{JobId: aws.String("old"), ReasonCode: aws.String("SWARD_SUPERSEDED")}); err != nil {
		t.Fatal(err)
	}
	f.targets.setGroup("fleet", "dev1", "dev2", "dev3")
	f.svc.refreshTargets()
	var notFound *iottypes.ResourceNotFoundException
	if _, err := f.iot.DescribeJobExecution(context.Background(), &iot.DescribeJobExecutionInput{JobId: aws.String("old"), ThingName: aws.String("dev3")}); !errors.As(err, &notFound) {
		t.Errorf("the canceled job for dev3 that joined later: err = %v, want ResourceNotFoundException", err)
	}
	if got := f.executionStatus("new", "dev3"); got != iottypes.JobExecutionStatusQueued {
		t.Errorf("the job in progress for dev3 that joined later = %s, want QUEUED", got)
	}
	if got := f.jobStatus("old"); got != iottypes.JobStatusCanceled {
		t.Errorf("the canceled continuous job = %s, want it to stay CANCELED", got)
	}
}

func TestTimersEndAnInProgressExecutionAsTimedOut(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("step"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{}`)})
	f.createJob(&iot.CreateJobInput{JobId: aws.String("whole"), Targets: []string{thingArn("dev2")}, Document: aws.String(`{}`),
		TimeoutConfig: &iottypes.TimeoutConfig{InProgressTimeoutInMinutes: aws.Int64(10)}})
	if ok, got := f.request(prefix+"start-next", `{"stepTimeoutInMinutes":5}`); !ok {
		t.Fatal(got)
	}
	if ok, got := f.request("$aws/things/dev2/jobs/whole/update", `{"status":"IN_PROGRESS","stepTimeoutInMinutes":30}`); !ok {
		t.Fatal(got)
	}
	f.now = f.now.Add(5*time.Minute - time.Second)
	f.svc.ExpireTimers()
	if got := f.executionStatus("step", "dev1"); got != iottypes.JobExecutionStatusInProgress {
		t.Errorf("before the step timer: %s, want IN_PROGRESS", got)
	}
	f.now = f.now.Add(time.Second)
	f.svc.ExpireTimers()
	if got := f.executionStatus("step", "dev1"); got != iottypes.JobExecutionStatusTimedOut {
		t.Errorf("at the step timer: %s, want TIMED_OUT", got)
	}
	// The in-progress timer bounds a longer step timer.
	f.now = f.now.Add(5 * time.Minute)
	f.svc.ExpireTimers()
	if got := f.executionStatus("whole", "dev2"); got != iottypes.JobExecutionStatusTimedOut {
		t.Errorf("at the in-progress timer: %s, want TIMED_OUT", got)
	}
}

func TestAbortCriteriaCancelTheQueuedRest(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1"), thingArn("dev2"), thingArn("dev3")}, Document: aws.String(`{}`),
		AbortConfig: &iottypes.AbortConfig{CriteriaList: []iottypes.AbortCriteria{
			{Action: iottypes.AbortActionCancel, FailureType: iottypes.JobExecutionFailureTypeFailed, ThresholdPercentage: aws.Float64(50), MinNumberOfExecutedThings: aws.Int32(2)}}}})
	if ok, got := f.request("$aws/things/dev3/jobs/start-next", `{}`); !ok {
		t.Fatal(got)
	}
	if ok, got := f.request(prefix+"job1/update", `{"status":"FAILED"}`); !ok {
		t.Fatal(got)
	}
	if got := f.jobStatus("job1"); got != iottypes.JobStatusInProgress {
		t.Fatalf("after 1 of 1 executed failed (minimum 2): %s, want IN_PROGRESS", got)
	}
	if ok, got := f.request("$aws/things/dev3/jobs/job1/update", `{"status":"SUCCEEDED"}`); !ok {
		t.Fatal(got)
	}
	// 1 of 2 executed failed: 50 % of at least 2.
	if got := f.jobStatus("job1"); got != iottypes.JobStatusCanceled {
		t.Errorf("job after 50%% failures = %s, want CANCELED", got)
	}
	if got := f.executionStatus("job1", "dev2"); got != iottypes.JobExecutionStatusCanceled {
		t.Errorf("the queued execution = %s, want CANCELED", got)
	}
}

func TestGreengrassNamespacedJobsUseTheirOwnTopics(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("gg"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{"components":{}}`), NamespaceId: aws.String("aws-gg-deployment")})
	if n := f.take(prefix + "notify-namespace-aws-gg-deployment"); len(n) != 1 {
		t.Errorf("notify-namespace-aws-gg-deployment = %+v, want one", n)
	}
	if n := f.take(prefix + "notify-next-namespace-aws-gg-deployment"); len(n) != 1 {
		t.Errorf("notify-next-namespace-aws-gg-deployment = %+v, want one", n)
	}
	if n := f.take(prefix + "notify-next"); len(n) != 0 {
		t.Errorf("plain notify-next for a namespaced job = %+v, want none", n)
	}
	ok, got := f.request(prefix+"$next/namespace-aws-gg-deployment/get", `{"clientToken":"g"}`)
	if !ok || got["execution"].(map[string]any)["jobId"] != "gg" {
		t.Errorf("$next namespaced get = %v %v, want gg", ok, got)
	}
	if ok, got := f.request(prefix+"get", `{}`); !ok || len(got["queuedJobs"].([]any)) != 0 {
		t.Errorf("plain get = %v, want no namespaced job", got)
	}
	if ok, got := f.request(prefix+"gg/namespace-aws-gg-deployment/update", `{"status":"IN_PROGRESS","statusDetails":{"detailed-deployment-status":"x"}}`); !ok {
		t.Errorf("namespaced update rejected: %v", got)
	}
	if ok, got := f.request(prefix+"gg/update", `{"status":"SUCCEEDED"}`); ok || got["code"] != CodeResourceNotFound {
		t.Errorf("plain update of a namespaced job = %v %v, want ResourceNotFound", ok, got)
	}
}

func TestJobsSurviveARestartAndAnInterruptedDelete(t *testing.T) {
	f := newFixture(t)
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job1"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{"v":1}`)})
	f.createJob(&iot.CreateJobInput{JobId: aws.String("job2"), Targets: []string{thingArn("dev1")}, Document: aws.String(`{"v":2}`)})
	if ok, got := f.request(prefix+"start-next", `{}`); !ok {
		t.Fatal(got)
	}
	// A delete that died after its rename, and a write that died before its.
	if err := os.Rename(filepath.Join(f.dir, "job2"), filepath.Join(f.dir, deletedPrefix+"job2")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "job1", executionsDir, "dev9.json.tmp"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	f.start()
	if got := f.executionStatus("job1", "dev1"); got != iottypes.JobExecutionStatusInProgress {
		t.Errorf("job1 after the restart = %s, want IN_PROGRESS", got)
	}
	var notFound *iottypes.ResourceNotFoundException
	if _, err := f.iot.DescribeJob(context.Background(), &iot.DescribeJobInput{JobId: aws.String("job2")}); !errors.As(err, &notFound) {
		t.Errorf("job2 whose delete was interrupted: err = %v, want ResourceNotFoundException", err)
	}
	ok, got := f.request(prefix+"job1/update", `{"status":"SUCCEEDED","expectedVersion":2}`)
	if !ok {
		t.Errorf("update after the restart at the version before it: %v", got)
	}
}

func TestParseRequestNamesTheOperation(t *testing.T) {
	tests := []struct {
		topic string
		want  request
		ok    bool
	}{
		{"$aws/things/t/jobs/get", request{thing: "t", op: "get"}, true},
		{"$aws/things/t/jobs/start-next", request{thing: "t", op: "start-next"}, true},
		{"$aws/things/t/jobs/j1/get", request{thing: "t", op: "get", jobID: "j1"}, true},
		{"$aws/things/t/jobs/$next/get", request{thing: "t", op: "get", jobID: "$next"}, true},
		{"$aws/things/t/jobs/j1/update", request{thing: "t", op: "update", jobID: "j1"}, true},
		{"$aws/things/t/jobs/j1/namespace-aws-gg-deployment/update", request{thing: "t", ns: "aws-gg-deployment", op: "update", jobID: "j1"}, true},
		{"$aws/things/t/jobs/j1/frobnicate", request{thing: "t", op: "invalid"}, true},
		{"$aws/things/t/jobs/get/accepted", request{}, false},
		{"$aws/things/t/jobs/j1/update/rejected", request{}, false},
		{"$aws/things/t/jobs/notify", request{}, false},
		{"$aws/things/t/jobs/notify-next-namespace-aws-gg-deployment", request{}, false},
		{"$aws/things/t/shadow/get", request{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRequest(tt.topic)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRequest(%q) = %+v, %v; want %+v, %v", tt.topic, got, ok, tt.want, tt.ok)
		}
	}
}

// The release Lambda's CreateJob carries a rollout, abort criteria and an
// in-progress timeout (lambdas/release jobInput): all are taken and
// DescribeJob gives them back.
func TestCreateJobTakesTheReleaseLambdasConfigurations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.iot.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("rel")}); err == nil {
		t.Fatal("DescribeJob of a job not created yet succeeded")
	}
	in := &iot.CreateJobInput{
		JobId: aws.String("rel"), Targets: []string{groupArn("fleet")}, Document: aws.String(`{"components":{"a":"1.0.0"}}`),
		Description: aws.String("Sward release"), TargetSelection: iottypes.TargetSelectionContinuous,
		JobExecutionsRolloutConfig: &iottypes.JobExecutionsRolloutConfig{MaximumPerMinute: aws.Int32(50), ExponentialRate: &iottypes.ExponentialRolloutRate{
			BaseRatePerMinute: aws.Int32(5), IncrementFactor: aws.Float64(2), RateIncreaseCriteria: &iottypes.RateIncreaseCriteria{NumberOfSucceededThings: aws.Int32(10)}}},
		AbortConfig: &iottypes.AbortConfig{CriteriaList: []iottypes.AbortCriteria{{Action: iottypes.AbortActionCancel, FailureType: iottypes.JobExecutionFailureTypeAll,
			ThresholdPercentage: aws.Float64(20), MinNumberOfExecutedThings: aws.Int32(5)}}},
		TimeoutConfig: &iottypes.TimeoutConfig{InProgressTimeoutInMinutes: aws.Int64(60)},
	}
	out, err := f.iot.CreateJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.JobArn) != "arn:aws:iot:us-east-1:123456789012:job/rel" || aws.ToString(out.Description) != "Sward release" {
		t.Errorf("CreateJob = %s %s, want the job's ARN and description", aws.ToString(out.JobArn), aws.ToString(out.Description))
	}
	got, err := f.iot.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String("rel")})
	if err != nil {
		t.Fatal(err)
	}
	j := got.Job
	switch {
	case j.TargetSelection != iottypes.TargetSelectionContinuous, !slices.Equal(j.Targets, in.Targets):
		t.Errorf("targets %v %s, want %v CONTINUOUS", j.Targets, j.TargetSelection, in.Targets)
	case aws.ToInt32(j.JobExecutionsRolloutConfig.MaximumPerMinute) != 50 || aws.ToFloat64(j.JobExecutionsRolloutConfig.ExponentialRate.IncrementFactor) != 2:
		t.Errorf("rollout %+v, want the one given", j.JobExecutionsRolloutConfig)
	case len(j.AbortConfig.CriteriaList) != 1 || aws.ToFloat64(j.AbortConfig.CriteriaList[0].ThresholdPercentage) != 20:
		t.Errorf("abort %+v, want the one given", j.AbortConfig)
	case aws.ToInt64(j.TimeoutConfig.InProgressTimeoutInMinutes) != 60:
		t.Errorf("timeout %+v, want 60 minutes", j.TimeoutConfig)
	case aws.ToInt32(j.JobProcessDetails.NumberOfQueuedThings) != 2:
		t.Errorf("process details %+v, want 2 queued (the group's things)", j.JobProcessDetails)
	case j.CreatedAt == nil || !j.CreatedAt.Equal(f.now):
		t.Errorf("createdAt %v, want %v", j.CreatedAt, f.now)
	}
	jobs, err := f.iot.ListJobs(ctx, &iot.ListJobsInput{ThingGroupName: aws.String("fleet"), Status: iottypes.JobStatusInProgress})
	if err != nil || len(jobs.Jobs) != 1 || aws.ToString(jobs.Jobs[0].JobId) != "rel" {
		t.Errorf("ListJobs for the group = %+v, %v; want rel", jobs, err)
	}
	execs, err := f.iot.ListJobExecutionsForJob(ctx, &iot.ListJobExecutionsForJobInput{JobId: aws.String("rel"), MaxResults: aws.Int32(1)})
	if err != nil || len(execs.ExecutionSummaries) != 1 || aws.ToString(execs.ExecutionSummaries[0].ThingArn) != thingArn("dev1") || execs.NextToken == nil {
		t.Fatalf("ListJobExecutionsForJob page 1 = %+v, %v; want dev1 and a next token", execs, err)
	}
	execs, err = f.iot.ListJobExecutionsForJob(ctx, &iot.ListJobExecutionsForJobInput{JobId: aws.String("rel"), NextToken: execs.NextToken})
	if err != nil || len(execs.ExecutionSummaries) != 1 || aws.ToString(execs.ExecutionSummaries[0].ThingArn) != thingArn("dev2") || execs.NextToken != nil {
		t.Errorf("ListJobExecutionsForJob page 2 = %+v, %v; want dev2 and no next token", execs, err)
	}
	doc, err := f.iot.GetJobDocument(ctx, &iot.GetJobDocumentInput{JobId: aws.String("rel")})
	if err != nil || aws.ToString(doc.Document) != `{"components":{"a":"1.0.0"}}` {
		t.Errorf("GetJobDocument = %v, %v", doc, err)
	}
}
