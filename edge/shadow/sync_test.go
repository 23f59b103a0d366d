package shadow

import (
	"context"
	"errors"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestTheSyncSideReadsWritesOutsideTheRateAndWatchesEveryChange(t *testing.T) {
	s, _, _ := newEnv(t, Options{RequestsPerSecondPerThing: 1})
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan string, 16)
	done, err := s.Watch(ctx, func(thing, name string) { changes <- thing + "/" + name })
	if err != nil {
		t.Fatal(err)
	}

	// One request a second for the thing: the sync's writes do not count.
	v, err := s.SyncUpdate(testContext(t), "lamp:1", "cfg", []byte(`{"state":{"desired":{"on":true}}}`))
	if err != nil || v != 1 {
		t.Fatalf("SyncUpdate = %d, %v; want version 1", v, err)
	}
	if v, err = s.SyncUpdate(testContext(t), "lamp:1", "cfg", []byte(`{"state":{"reported":{"on":true}},"version":1}`)); err != nil || v != 2 {
		t.Fatalf("conditional SyncUpdate = %d, %v; want version 2", v, err)
	}
	if _, err := s.SyncUpdate(testContext(t), "lamp:1", "cfg", []byte(`{"state":{"reported":{"on":false}},"version":1}`)); !errors.Is(err, ErrConflict) {
		t.Errorf("SyncUpdate at an old version = %v, want a conflict", err)
	}
	snap, err := s.Snapshot(testContext(t), "lamp:1", "cfg")
	if err != nil || !snap.Exists || snap.Version != 2 || snap.Desired["on"] != true || snap.Reported["on"] != true {
		t.Errorf("Snapshot = %+v, %v", snap, err)
	}
	if err := s.SyncDelete(testContext(t), "lamp:1", "cfg", 1); !errors.Is(err, ErrConflict) {
		t.Errorf("SyncDelete at an old version = %v, want a conflict", err)
	}
	if err := s.SyncDelete(testContext(t), "lamp:1", "cfg", 2); err != nil {
		t.Fatal(err)
	}
	if snap, _ := s.Snapshot(testContext(t), "lamp:1", "cfg"); snap.Exists || snap.Version != 2 {
		t.Errorf("Snapshot of the deleted shadow = %+v, want gone at version 2", snap)
	}
	if _, err := s.Update(testContext(t), "lamp:1", "", []byte(`{"state":{"reported":{"x":1}}}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lamp:1/cfg", "lamp:1/cfg", "lamp:1/cfg", "lamp:1/"} {
		if got := testutil.Receive(t, changes, "change "+want); got != want {
			t.Errorf("watched %q, want %q", got, want)
		}
	}
	cancel()
	testutil.Receive(t, done, "the watch's end")
}
