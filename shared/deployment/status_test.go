package deployment

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestOnlyQueuedAndInProgressAreNotTerminal(t *testing.T) {
	for _, s := range States {
		want := s != Queued && s != InProgress
		if s.Terminal() != want {
			t.Errorf("%s.Terminal() = %t, want %t", s, s.Terminal(), want)
		}
	}
	if State("BOGUS").Terminal() {
		t.Error("an unknown state must not be terminal")
	}
}

func TestStatusJSONLeavesOutWhatHasNotHappened(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := Status{DeploymentID: "d1", Group: LocalGroup, State: Queued, CreatedAt: created}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deploymentId":"d1","groupName":"LOCAL","state":"QUEUED","createdAt":"2025-01-02T03:04:05Z"}`
	if string(data) != want {
		t.Errorf("json = %s\nwant %s", data, want)
	}

	s.State, s.StartedAt, s.EndedAt, s.CommitID = RolledBack, created.Add(time.Second), created.Add(time.Minute), "abc123"
	s.Components = []ComponentOutcome{{Name: "A", Version: "1.0.0", PreviousVersion: "1.0.0", State: "RUNNING", Reason: "rolled back"}}
	data, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Status
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("round trip: %+v, %v\nwant %+v", back, err, s)
	}
}
