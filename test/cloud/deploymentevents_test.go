package cloud

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/lambdas/deploymentevents"
	"github.com/sward-iot/sward/lambdas/release"
	"github.com/sward-iot/sward/shared/deploymentstatus"
)

// deploymentEnv is a created release (abort when ≥ 50% of at least 2
// finished devices FAILED) and the deployment-events handler.
type deploymentEnv struct {
	*releaseEnv
	statusTable string
	h           *deploymentevents.Handler
}

func newDeploymentEnv(t *testing.T) *deploymentEnv {
	t.Helper()
	e := &deploymentEnv{releaseEnv: newReleaseEnv(t), statusTable: name(t, "status")}
	createTable(t, e.c, e.statusTable, "thingName", "sortKey")
	if o := e.releaseEnv.handle(t, e.publish(t, e.files())); o.Status != release.Created {
		t.Fatalf("release: %+v", o)
	}
	log, _ := newLog(t, "deployment-events")
	e.h = &deploymentevents.Handler{DB: e.c.db, IoT: e.c.iot, ReleasesTable: e.table, StatusTable: e.statusTable, Log: log}
	return e
}

// report is what the deployment status rule sends for one device message.
func (e *deploymentEnv) report(t *testing.T, jobID, thing string, status deploymentstatus.Status, ts int64) deploymentevents.Result {
	t.Helper()
	ev := fmt.Sprintf(`{"formatVersion":1,"jobId":%q,"status":%q,"reason":"r","timestamp":%d,"thing":%q,"receivedAt":%d}`, jobID, status, ts, thing, ts+250)
	res, err := e.h.Handle(ctx(t), []byte(ev))
	if err != nil {
		t.Fatalf("Handle(%s %s): %v", thing, status, err)
	}
	return res
}

func (e *deploymentEnv) history(t *testing.T, thing string) []string {
	t.Helper()
	out, err := e.c.db.Query(ctx(t), &dynamodb.QueryInput{
		TableName:                 aws.String(e.statusTable),
		KeyConditionExpression:    aws.String("thingName = :t AND begins_with(sortKey, :h)"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":t": &dbtypes.AttributeValueMemberS{Value: thing}, ":h": &dbtypes.AttributeValueMemberS{Value: "history#"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, item := range out.Items {
		statuses = append(statuses, s(item, "status"))
	}
	return statuses
}

func (e *deploymentEnv) current(t *testing.T, thing string) string {
	t.Helper()
	return s(getItem(t, e.c, e.statusTable, map[string]dbtypes.AttributeValue{
		"thingName": &dbtypes.AttributeValueMemberS{Value: thing},
		"sortKey":   &dbtypes.AttributeValueMemberS{Value: deploymentevents.CurrentKey(e.jobID())},
	}), "status")
}

func TestDeviceStatusHistoryAndReleaseCounts(t *testing.T) {
	e := newDeploymentEnv(t)
	job := e.jobID()
	steps := []struct {
		thing  string
		status deploymentstatus.Status
		ts     int64
		want   string
	}{
		{"pi-1", deploymentstatus.InProgress, hour1, deploymentevents.Recorded},
		{"pi-2", deploymentstatus.InProgress, hour1, deploymentevents.Recorded},
		{"pi-1", deploymentstatus.Succeeded, hour1 + 5000, deploymentevents.Recorded},
		{"pi-1", deploymentstatus.Succeeded, hour1 + 5000, deploymentevents.Duplicate}, // QoS 1 redelivery
		{"pi-1", deploymentstatus.InProgress, hour1 + 1000, deploymentevents.Stale},    // late, older message
		{"pi-2", deploymentstatus.InProgress, hour1 + 2000, deploymentevents.Recorded}, // progress again: counts unchanged
	}
	for _, s := range steps {
		if res := e.report(t, job, s.thing, s.status, s.ts); res.Outcome != s.want || res.Canceled {
			t.Errorf("%s %s @%d: %+v, want %s", s.thing, s.status, s.ts, res, s.want)
		}
	}
	if got := e.history(t, "pi-1"); strings.Join(got, ",") != "IN_PROGRESS,IN_PROGRESS,SUCCEEDED" {
		t.Errorf("pi-1 history = %v, want IN_PROGRESS, IN_PROGRESS (late), SUCCEEDED in time order", got)
	}
	if e.current(t, "pi-1") != "SUCCEEDED" || e.current(t, "pi-2") != "IN_PROGRESS" {
		t.Errorf("current: pi-1 %s, pi-2 %s", e.current(t, "pi-1"), e.current(t, "pi-2"))
	}
	rec := e.record(t)
	if rec["devices_SUCCEEDED"] != "1" || rec["devices_IN_PROGRESS"] != "1" || rec["devices_FAILED"] != "" || rec["status"] != "IN_PROGRESS" {
		t.Errorf("release counts = %v, want 1 SUCCEEDED, 1 IN_PROGRESS", rec)
	}
}

func TestFailureRateOverTheThresholdStopsTheRollout(t *testing.T) {
	e := newDeploymentEnv(t)
	job := e.jobID()
	e.report(t, job, "pi-1", deploymentstatus.Failed, hour1) // 1 of 1: under the minimum of 2 devices
	if job, err := e.describeJob(t); err != nil || job.Job.Status == iottypes.JobStatusCanceled {
		t.Fatalf("canceled after one device: %v", err)
	}
	if res := e.report(t, job, "pi-2", deploymentstatus.Succeeded, hour1); !res.Canceled {
		t.Fatalf("1 FAILED of 2 (50%%) did not stop the rollout: %+v", res)
	}
	j, err := e.describeJob(t)
	if err != nil || j.Job.Status != iottypes.JobStatusCanceled || aws.ToString(j.Job.ReasonCode) != deploymentevents.CancelReasonCode {
		t.Fatalf("job = %+v, %v; want CANCELED with reason code %s", j.Job, err, deploymentevents.CancelReasonCode)
	}
	rec := e.record(t)
	if rec["status"] != "CANCELED" || !strings.Contains(rec["reason"], "1 of 2 devices that finished failed") {
		t.Errorf("release record = %v", rec)
	}
	if res := e.report(t, job, "pi-3", deploymentstatus.Failed, hour1); res.Canceled || res.Outcome != deploymentevents.Recorded {
		t.Errorf("after the cancel: %+v, want the status recorded and no second cancel", res)
	}
}

func TestStatusForAJobThatIsNotAReleaseIsStillRecorded(t *testing.T) {
	e := newDeploymentEnv(t)
	if res := e.report(t, "manual-job", "pi-1", deploymentstatus.Succeeded, hour1); res.Outcome != deploymentevents.Recorded {
		t.Fatalf("result = %+v", res)
	}
	if got := e.history(t, "pi-1"); len(got) != 1 {
		t.Errorf("history = %v", got)
	}
	if item := getItem(t, e.c, e.table, sKey("jobId", "manual-job")); len(item) != 0 {
		t.Errorf("a release item appeared for a job that is not a release: %v", item)
	}
}

func TestFleetStatusRecordsTheDevicesComponentsAndOnlyMovesForward(t *testing.T) {
	e := newDeploymentEnv(t)
	report := func(ts int64, trigger, components string) string {
		t.Helper()
		ev := fmt.Sprintf(`{"formatVersion":1,"trigger":%q,"overallDeviceStatus":"HEALTHY","sequenceNumber":%d,"timestamp":%d,"components":[%s],"thing":"pi-1","receivedAt":%d}`,
			trigger, ts-1767225600000, ts, components, ts+250)
		res, err := e.h.Handle(ctx(t), []byte(ev))
		if err != nil {
			t.Fatalf("Handle(fleet status %s): %v", trigger, err)
		}
		return res.Outcome
	}
	fleet := func() string {
		item := getItem(t, e.c, e.statusTable, map[string]dbtypes.AttributeValue{
			"thingName": &dbtypes.AttributeValueMemberS{Value: "pi-1"},
			"sortKey":   &dbtypes.AttributeValueMemberS{Value: deploymentevents.FleetKey},
		})
		var b strings.Builder
		b.WriteString(s(item, "trigger"))
		if l, ok := item["components"].(*dbtypes.AttributeValueMemberL); ok {
			for _, c := range l.Value {
				m := c.(*dbtypes.AttributeValueMemberM).Value
				b.WriteString(" " + s(m, "componentName") + "@" + s(m, "version") + "=" + s(m, "state"))
			}
		}
		return b.String()
	}
	if o := report(1767225602000, "DEPLOYMENT", `{"componentName":"com.example.Sensor","version":"1.1.0","state":"RUNNING"}`); o != deploymentevents.Recorded {
		t.Fatalf("first fleet status: %s, want %s", o, deploymentevents.Recorded)
	}
	if got, want := fleet(), "DEPLOYMENT com.example.Sensor@1.1.0=RUNNING"; got != want {
		t.Errorf("fleet item %q, want %q", got, want)
	}
	// A redelivered older message does not turn the status back.
	if o := report(1767225601000, "NUCLEUS_LAUNCH", `{"componentName":"com.example.Sensor","version":"1.0.0","state":"RUNNING"}`); o != deploymentevents.Stale {
		t.Errorf("older fleet status: %s, want %s", o, deploymentevents.Stale)
	}
	if got, want := fleet(), "DEPLOYMENT com.example.Sensor@1.1.0=RUNNING"; got != want {
		t.Errorf("after an older message the fleet item is %q, want %q", got, want)
	}
	if o := report(1767225603000, "BROKEN_COMPONENT", `{"componentName":"com.example.Sensor","version":"1.1.0","state":"BROKEN","reason":"exit 1"}`); o != deploymentevents.Recorded {
		t.Fatalf("newer fleet status: %s", o)
	}
	if got, want := fleet(), "BROKEN_COMPONENT com.example.Sensor@1.1.0=BROKEN"; got != want {
		t.Errorf("fleet item %q, want %q", got, want)
	}
	// A malformed one is dropped with its reason, not retried.
	if o := report(1767225604000, "WHENEVER", ``); o != deploymentevents.Malformed {
		t.Errorf("bad trigger: %s, want %s", o, deploymentevents.Malformed)
	}
}
