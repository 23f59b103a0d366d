package deploymentstatus

import (
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/shared/deployment"
)

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{name: "minimal", input: `{"formatVersion":1,"jobId":"sward-abc","status":"SUCCEEDED","timestamp":1767225600000}`},
		{name: "with detail and reason", input: `{"formatVersion":1,"jobId":"sward-abc","status":"FAILED","detail":"ROLLED_BACK","reason":"run exited 1","timestamp":1767225600000}`},
		{name: "unknown status", input: `{"formatVersion":1,"jobId":"j","status":"DONE","timestamp":1767225600000}`, want: `status: "DONE" is not a status a device reports; use IN_PROGRESS, SUCCEEDED, FAILED or REJECTED`},
		{name: "service-only status", input: `{"formatVersion":1,"jobId":"j","status":"CANCELED","timestamp":1767225600000}`, want: `status: "CANCELED" is not a status a device reports`},
		{name: "unknown detail", input: `{"formatVersion":1,"jobId":"j","status":"FAILED","detail":"OOPS","timestamp":1767225600000}`, want: `detail: "OOPS" is not a deployment state`},
		{name: "bad job id", input: `{"formatVersion":1,"jobId":"a/b","status":"FAILED","timestamp":1767225600000}`, want: `jobId: "a/b" is not a job id`},
		{name: "reason too long", input: `{"formatVersion":1,"jobId":"j","status":"FAILED","reason":"` + strings.Repeat("é", 1025) + `","timestamp":1767225600000}`, want: "reason: is 1025 characters; keep it to 1024"},
		{name: "timestamp in seconds", input: `{"formatVersion":1,"jobId":"j","status":"FAILED","timestamp":1767225600}`, want: "timestamp: is 1767225600; send the time of the change in epoch milliseconds"},
		{name: "device may not claim a thing", input: `{"formatVersion":1,"jobId":"j","status":"FAILED","timestamp":1767225600000,"thing":"other"}`, want: "thing: is not a known field"},
		{name: "no formatVersion", input: `{"jobId":"j","status":"FAILED","timestamp":1767225600000}`, want: "formatVersion: is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage([]byte(tc.input))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeEventTakesThingAndReceiveTimeFromTheRule(t *testing.T) {
	ev, err := DecodeEvent([]byte(`{"formatVersion":1,"jobId":"sward-abc","status":"IN_PROGRESS","timestamp":1767225600000,"thing":"pi-1","receivedAt":1767225600123}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Thing != "pi-1" || ev.ReceivedAt != 1767225600123 || ev.JobID != "sward-abc" || ev.Status != InProgress {
		t.Errorf("event = %+v", ev)
	}
	_, err = DecodeEvent([]byte(`{"formatVersion":1,"jobId":"sward-abc","status":"IN_PROGRESS","timestamp":1767225600000}`))
	if err == nil || !strings.Contains(err.Error(), "thing: is missing") || !strings.Contains(err.Error(), "receivedAt: is missing") {
		t.Errorf("event without the rule's fields: err = %v", err)
	}
}

func TestFromDeploymentMapsEngineStatesToJobStatuses(t *testing.T) {
	at := time.UnixMilli(1767225600000)
	started := at.Add(-time.Minute)
	for _, tc := range []struct {
		state   deployment.State
		started time.Time
		want    Status
	}{
		{deployment.Queued, time.Time{}, InProgress},
		{deployment.InProgress, started, InProgress},
		{deployment.Succeeded, started, Succeeded},
		{deployment.Failed, started, Failed},
		{deployment.Failed, time.Time{}, Rejected},
		{deployment.RolledBack, started, Failed},
		{deployment.Canceled, time.Time{}, Rejected},
		{deployment.Superseded, time.Time{}, Rejected},
	} {
		m := FromDeployment(deployment.Status{DeploymentID: "sward-abc", State: tc.state, StartedAt: tc.started, Reason: "r"}, at)
		if m.Status != tc.want || m.Detail != tc.state || m.Timestamp != at.UnixMilli() {
			t.Errorf("%s (started %v) → %+v, want status %s", tc.state, !tc.started.IsZero(), m, tc.want)
		}
		if _, err := m.Encode(); err != nil {
			t.Errorf("%s: the message does not encode: %v", tc.state, err)
		}
	}
	for _, s := range deployment.States {
		_ = FromDeployment(deployment.Status{State: s}, at) // every state maps without panicking
	}
}
