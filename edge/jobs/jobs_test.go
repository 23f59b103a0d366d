package jobs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/deploymentstatus"
)

func TestAJobBecomesTheThingGroupsDeploymentAndSucceeds(t *testing.T) {
	f := newFixture(t)
	doc := f.release("sward-abc", "sensors", map[string]string{"com.example.A": "1.0.0", "com.example.Lib": "2.1.0"})
	f.cloud.queue("sward-abc", doc)
	f.start()

	e := f.cloud.waitStatus("sward-abc", "SUCCEEDED")
	if e.details["detailed-deployment-status"] != "SUCCESSFUL" {
		t.Errorf("statusDetails = %v, want detailed-deployment-status SUCCESSFUL", e.details)
	}
	if got := f.engine.ids(); !slices.Equal(got, []string{"sward-abc"}) {
		t.Fatalf("deployments = %v, want the job id", got)
	}
	if r := f.engine.requests[0]; r.JobID != "sward-abc" || r.CommitID != "abc" {
		t.Errorf("request job %q commit %q, want the job and the release's commit", r.JobID, r.CommitID)
	}
	d := f.engine.submitted[0]
	if d.GroupName != "sensors" || d.Components["com.example.A"].Version != "1.0.0" {
		t.Errorf("the engine got %+v, want the thing group's document", d)
	}
	if got := f.engine.recipes["sward-abc"]; !slices.Equal(got, []string{"com.example.A-1.0.0.recipe.yaml", "com.example.Lib-2.1.0.recipe.yaml"}) {
		t.Errorf("recipes staged for the engine = %v", got)
	}
	if m := f.nextStatus(); m.JobID != "sward-abc" || m.Status != deploymentstatus.InProgress {
		t.Errorf("first status message = %+v, want IN_PROGRESS", m)
	}
	if m := f.nextStatus(); m.Status != deploymentstatus.Succeeded || m.Detail != ddoc.Succeeded {
		t.Errorf("last status message = %+v, want SUCCEEDED", m)
	}
}

func TestARolledBackDeploymentIsFailedWithGreengrassStatusDetails(t *testing.T) {
	f := newFixture(t)
	f.engine.end = func(*ddoc.Document) ddoc.Status {
		return ddoc.Status{State: ddoc.RolledBack, Reason: "component com.example.A is BROKEN: run exited 1; rolled back to the previous components and configuration " + strings.Repeat("x", 2000),
			Components: []ddoc.ComponentOutcome{{Name: "com.example.A", Version: "1.0.0", State: "BROKEN"}}}
	}
	f.cloud.queue("sward-broken", f.release("sward-broken", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.start()

	e := f.cloud.waitStatus("sward-broken", "FAILED")
	if e.details["detailed-deployment-status"] != "FAILED_ROLLBACK_COMPLETE" || !strings.HasPrefix(e.details["deployment-failure-cause"], "component com.example.A is BROKEN") {
		t.Errorf("statusDetails = %v", e.details)
	}
	var types, stack []string
	if json.Unmarshal([]byte(e.details["deployment-error-types"]), &types) != nil || !slices.Equal(types, []string{"COMPONENT_ERROR"}) ||
		json.Unmarshal([]byte(e.details["deployment-error-stack"]), &stack) != nil || stack[0] != "DEPLOYMENT_FAILURE" {
		t.Errorf("error types %q, stack %q: want JSON lists as Greengrass writes them", e.details["deployment-error-types"], e.details["deployment-error-stack"])
	}
	f.nextStatus() // IN_PROGRESS
	if m := f.nextStatus(); m.Status != deploymentstatus.Failed || m.Detail != ddoc.RolledBack || len([]rune(m.Reason)) != 1024 {
		t.Errorf("status message = %+v, want FAILED detail ROLLED_BACK with the reason cut to 1024 characters", m)
	}
}

func TestDocumentsTheDeviceCannotReadAreRejectedAndNothingIsDeployed(t *testing.T) {
	for _, tc := range []struct {
		name, doc, reason string
	}{
		{"not a document", `"deploy everything"`, "the document is the text"},
		{"a format from the future", `{"formatVersion": 2, "groupName": "sensors", "components": {}}`, "formatVersion: is 2; this Sward reads format 1 only"},
		{"a field from the future", `{"groupName": "sensors", "components": {}, "rolloutWaves": 3}`, "rolloutWaves: is not a known field"},
		{"a LOCAL document", `{"groupName": "LOCAL", "components": {}}`, "a cloud deployment names the thing group"},
		{"a recipe missing from the bucket", `{"groupName": "sensors", "components": {"com.example.Gone": {"componentVersion": "1.0.0"}},
			"recipeSource": {"bucket": "sward-artifacts", "prefix": "releases/x/recipes/"}}`, "recipe s3://sward-artifacts/releases/x/recipes/com.example.Gone-1.0.0.recipe.yaml does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.cloud.queue("sward-bad", tc.doc)
			f.start()
			e := f.cloud.waitStatus("sward-bad", "REJECTED")
			if e.details["detailed-deployment-status"] != "REJECTED" || !strings.Contains(e.details["deployment-failure-cause"], tc.reason) {
				t.Errorf("statusDetails = %v, want REJECTED and a cause with %q", e.details, tc.reason)
			}
			if m := f.nextStatus(); m.Status != deploymentstatus.Rejected || !strings.Contains(m.Reason, tc.reason) {
				t.Errorf("status message = %+v", m)
			}
			if ids := f.engine.ids(); len(ids) != 0 {
				t.Errorf("the engine got %v; a rejected job changes nothing", ids)
			}
		})
	}
}

func TestAJobCanceledBeforeTheDeviceAppliesItIsNotApplied(t *testing.T) {
	f := newFixture(t)
	// Canceled in the cloud between start-next and the device's
	// IN_PROGRESS update (while it downloads the recipes).
	f.cloud.beforeUpdate = func(e *cloudExec, status string) {
		f.cloud.mu.Lock()
		if e.jobID == "sward-gone" {
			e.status = "CANCELED"
		}
		f.cloud.mu.Unlock()
	}
	f.cloud.queue("sward-gone", f.release("sward-gone", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.cloud.queue("sward-next", f.release("sward-next", "sensors", map[string]string{"com.example.A": "1.1.0"}))
	f.start()

	f.cloud.waitStatus("sward-next", "SUCCEEDED")
	if ids := f.engine.ids(); !slices.Equal(ids, []string{"sward-next"}) {
		t.Errorf("deployments = %v, want only the job that was not canceled", ids)
	}
	if e := f.cloud.exec("sward-gone"); e.status != "CANCELED" {
		t.Errorf("the canceled job is %s", e.status)
	}
}

func TestAJobCanceledWhileItsDeploymentIsAppliedRollsBackAndTheOutcomeIsReported(t *testing.T) {
	f := newFixture(t)
	f.engine.hold = true
	f.cloud.queue("sward-mid", f.release("sward-mid", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.start()
	if m := f.nextStatus(); m.Status != deploymentstatus.InProgress {
		t.Fatalf("status = %+v, want IN_PROGRESS once submitted", m)
	}
	f.cloud.mu.Lock()
	f.cloud.execs[0].status = "CANCELED"
	f.cloud.mu.Unlock()
	f.cloud.notifyNext() // nothing pending any more

	m := f.nextStatus()
	if m.Status != deploymentstatus.Failed || m.Detail != ddoc.RolledBack || !strings.Contains(m.Reason, "the job is CANCELED in IoT Jobs") {
		t.Errorf("status = %+v, want FAILED, ROLLED_BACK because the job was canceled", m)
	}
	f.engine.mu.Lock()
	canceled := slices.Clone(f.engine.canceled)
	f.engine.mu.Unlock()
	if !slices.Equal(canceled, []string{"sward-mid"}) {
		t.Errorf("engine cancels = %v, want the job's deployment", canceled)
	}
	if e := f.cloud.exec("sward-mid"); e.status != "CANCELED" {
		t.Errorf("the execution is %s; a device cannot change a canceled one", e.status)
	}
}

func TestJobsQueuedWhileOfflineAreTakenOnReconnectInOrder(t *testing.T) {
	f := newFixture(t)
	f.cloud.setOnline(false)
	f.start()
	for _, id := range []string{"sward-1", "sward-2", "sward-3"} {
		f.cloud.queue(id, f.release(id, "sensors", map[string]string{"com.example.A": "1.0." + id[len(id)-1:]}))
	}
	f.cloud.setOnline(true)

	f.cloud.waitStatus("sward-3", "SUCCEEDED")
	for _, id := range []string{"sward-1", "sward-2"} {
		if e := f.cloud.exec(id); e.status != "SUCCEEDED" {
			t.Errorf("%s is %s", id, e.status)
		}
	}
	if ids := f.engine.ids(); !slices.Equal(ids, []string{"sward-1", "sward-2", "sward-3"}) {
		t.Errorf("deployments = %v, want the jobs in the order they were queued", ids)
	}
}

func TestADeploymentThatEndedWhileTheServiceWasDownIsReportedAtStart(t *testing.T) {
	f := newFixture(t)
	f.engine.hold = true
	f.cloud.queue("sward-long", f.release("sward-long", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.start()
	f.nextStatus() // IN_PROGRESS: submitted
	f.stop()       // the nucleus stops while the deployment runs
	f.engine.finishHeld()
	if e := f.cloud.exec("sward-long"); e.status != "IN_PROGRESS" {
		t.Fatalf("execution is %s before the restart", e.status)
	}

	f.start()
	f.cloud.waitStatus("sward-long", "SUCCEEDED")
	if ids := f.engine.ids(); !slices.Equal(ids, []string{"sward-long"}) {
		t.Errorf("deployments = %v, want the one deployment, not submitted again", ids)
	}
}

func TestAnOutcomeRecordedOfflineIsSentAfterARestart(t *testing.T) {
	f := newFixture(t)
	f.engine.hold = true
	f.cloud.queue("sward-off", f.release("sward-off", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.start()
	f.nextStatus()
	f.cloud.setOnline(false) // the terminal update cannot be answered
	f.engine.finishHeld()
	testutil.Until(t, "the terminal update spooled", func() bool {
		f.cloud.mu.Lock()
		defer f.cloud.mu.Unlock()
		for _, m := range f.cloud.spooled {
			if strings.HasSuffix(m.Topic, "/update") && strings.Contains(string(m.Payload), `"SUCCEEDED"`) {
				return true
			}
		}
		return false
	})
	f.stop()
	// What the link spooled is lost with it in this stand-in: only the
	// mapping tells the next start what to send.
	f.cloud.mu.Lock()
	f.cloud.spooled = nil
	f.cloud.mu.Unlock()

	f.start()
	f.cloud.setOnline(true)
	e := f.cloud.waitStatus("sward-off", "SUCCEEDED")
	if e.details["detailed-deployment-status"] != "SUCCESSFUL" {
		t.Errorf("statusDetails = %v", e.details)
	}
}

func TestAVersionMismatchIsRetriedWithTheCloudsVersion(t *testing.T) {
	f := newFixture(t)
	bumped := false
	f.cloud.beforeUpdate = func(e *cloudExec, status string) {
		f.cloud.mu.Lock()
		defer f.cloud.mu.Unlock()
		if !bumped {
			bumped = true
			e.version += 5 // someone else updated the execution meanwhile
		}
	}
	f.cloud.queue("sward-v", f.release("sward-v", "sensors", map[string]string{"com.example.A": "1.0.0"}))
	f.start()
	f.cloud.waitStatus("sward-v", "SUCCEEDED")
}

func TestAConflictIsReportedAsADependencyError(t *testing.T) {
	f := newFixture(t)
	f.engine.end = func(*ddoc.Document) ddoc.Status {
		return ddoc.Status{State: ddoc.Failed, Reason: "dependency conflict: com.example.Lib: group sensors requires 1.0.0; group cameras requires 2.0.0"}
	}
	f.cloud.queue("sward-c", f.release("sward-c", "cameras", map[string]string{"com.example.Lib": "2.0.0"}))
	f.start()
	e := f.cloud.waitStatus("sward-c", "FAILED")
	if e.details["detailed-deployment-status"] != "FAILED_NO_STATE_CHANGE" || e.details["deployment-error-types"] != `["DEPENDENCY_ERROR"]` ||
		!strings.Contains(e.details["deployment-failure-cause"], "group sensors requires 1.0.0; group cameras requires 2.0.0") {
		t.Errorf("statusDetails = %v", e.details)
	}
}
