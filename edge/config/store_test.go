package config

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStoreBucketIsFileBackedWithOneRevision(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	_, js := openStore(t, b)
	kv, err := js.KeyValue(testContext(t), DefaultBucket)
	if err != nil {
		t.Fatalf("bucket %q: %v", DefaultBucket, err)
	}
	st, err := kv.Status(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Config.Storage != jetstream.FileStorage || st.History() != history {
		t.Fatalf("bucket storage %v history %d, want file storage and history %d", info.Config.Storage, st.History(), history)
	}
}

func TestStorePutThenGetReturnsTheConfiguration(t *testing.T) {
	s := newStore(t)
	cfg := obj(t, `{"port": 8080, "nested": {"list": [1, "a", null, true]}, "empty": {}}`)
	rev := mustPut(t, s, "com.example.Hello", cfg, 0)
	got, gotRev := mustGet(t, s, "com.example.Hello")
	if !reflect.DeepEqual(got, cfg) || gotRev != rev {
		t.Fatalf("Get = %s rev %d, want %s rev %d", asJSON(got), gotRev, asJSON(cfg), rev)
	}
	if _, ok := got["port"].(float64); !ok {
		t.Errorf("numbers come back as %T, want float64 as encoding/json decodes them", got["port"])
	}

	mustPut(t, s, "com.example.Empty", nil, 0)
	if got, _ := mustGet(t, s, "com.example.Empty"); got == nil || len(got) != 0 {
		t.Errorf("nil configuration came back as %#v, want an empty object", got)
	}
}

func TestStoreGetOfUnknownComponentIsNotFound(t *testing.T) {
	s := newStore(t)
	_, _, err := s.Get(testContext(t), "com.example.Missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"com.example.Missing"`) {
		t.Fatalf("Get = %v, want ErrNotFound naming the component", err)
	}
}

func TestStorePutIsCompareAndSwap(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	const c = "com.example.Cas"
	rev1 := mustPut(t, s, c, obj(t, `{"v": 1}`), 0)

	t.Run("revision 0 means the component must have no configuration", func(t *testing.T) {
		_, err := s.Put(ctx, c, obj(t, `{"v": "lost"}`), 0)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), c) {
			t.Fatalf("second create = %v, want ErrConflict naming %s", err, c)
		}
	})
	rev2 := mustPut(t, s, c, obj(t, `{"v": 2}`), rev1)
	if rev2 <= rev1 {
		t.Fatalf("revision went from %d to %d, want it to grow", rev1, rev2)
	}
	t.Run("a stale revision is a conflict and changes nothing", func(t *testing.T) {
		_, err := s.Put(ctx, c, obj(t, `{"v": "stale"}`), rev1)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("stale update = %v, want ErrConflict", err)
		}
		if got, rev := mustGet(t, s, c); got["v"] != 2.0 || rev != rev2 {
			t.Fatalf("after a lost race: %s rev %d, want v=2 rev %d", asJSON(got), rev, rev2)
		}
	})
	t.Run("a revision on a missing component is a conflict", func(t *testing.T) {
		if _, err := s.Put(ctx, "com.example.Nobody", obj(t, `{}`), rev2); !errors.Is(err, ErrConflict) {
			t.Fatalf("update of a missing component = %v, want ErrConflict", err)
		}
	})
}

func TestStoreConcurrentWritersOnlyOneWins(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	const c = "com.example.Race"
	rev := mustPut(t, s, c, obj(t, `{"writer": -1}`), 0)

	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { _, errs[i] = s.Put(ctx, c, map[string]any{"writer": i}, rev) })
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won from revision %d", winner, i, rev)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	if got, _ := mustGet(t, s, c); got["writer"] != float64(winner) {
		t.Fatalf("stored writer %v, want the winner %d", got["writer"], winner)
	}
}

func TestStoreDeleteIsIdempotentAndAllowsCreateAgain(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	const c = "com.example.Gone"
	mustPut(t, s, c, obj(t, `{"v": 1}`), 0)
	for range 2 {
		if err := s.Delete(ctx, c); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if err := s.Delete(ctx, "com.example.NeverThere"); err != nil {
		t.Fatalf("Delete of a component without configuration: %v", err)
	}
	if _, _, err := s.Get(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	mustPut(t, s, c, obj(t, `{"v": 2}`), 0) // revision 0 = "must not exist" holds again
	if got, _ := mustGet(t, s, c); got["v"] != 2.0 {
		t.Fatalf("after re-create: %s", asJSON(got))
	}
}

func TestStoreListIsSortedAndSkipsDeleted(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	if got, err := s.List(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("List of an empty store = %#v, %v; want an empty list", got, err)
	}
	for _, c := range []string{"com.example.B", "aws.greengrass.Nucleus", "com.example.A", "com.example.Deleted"} {
		mustPut(t, s, c, nil, 0)
	}
	if err := s.Delete(ctx, "com.example.Deleted"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx)
	if want := []string{"aws.greengrass.Nucleus", "com.example.A", "com.example.B"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %v, %v; want %v", got, err, want)
	}
}

func TestStoreSnapshotAndRestoreAreExact(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	mustPut(t, s, "com.example.Changed", obj(t, `{"v": 1, "nested": {"keep": [1, 2]}}`), 0)
	mustPut(t, s, "com.example.Removed", obj(t, `{}`), 0)
	mustPut(t, s, "com.example.Outside", obj(t, `{"v": "before"}`), 0)

	// The deployment touches Changed, Removed and Added (new to the device).
	touched := []string{"com.example.Changed", "com.example.Removed", "com.example.Added"}
	snap, err := s.Snapshot(ctx, touched)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if cfg, ok := snap["com.example.Added"]; !ok || cfg != nil {
		t.Fatalf("snapshot of a component without configuration = %v (present %v), want a nil entry", cfg, ok)
	}

	// The engine keeps the snapshot in its durable record: JSON round trip.
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var recorded Snapshot
	if err := json.Unmarshal(data, &recorded); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recorded, snap) {
		t.Fatalf("snapshot changed through JSON:\n  %s\n  %s", asJSON(recorded), asJSON(snap))
	}

	// The deployment runs, then fails.
	_, rev := mustGet(t, s, "com.example.Changed")
	mustPut(t, s, "com.example.Changed", obj(t, `{"v": 2}`), rev)
	if err := s.Delete(ctx, "com.example.Removed"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "com.example.Added", obj(t, `{"new": true}`), 0)
	_, rev = mustGet(t, s, "com.example.Outside")
	mustPut(t, s, "com.example.Outside", obj(t, `{"v": "changed by someone else"}`), rev)

	for i := range 2 { // idempotent: an interrupted rollback runs again
		if err := s.Restore(ctx, recorded); err != nil {
			t.Fatalf("Restore #%d: %v", i+1, err)
		}
		after, err := s.Snapshot(ctx, touched)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, snap) {
			t.Fatalf("after Restore #%d:\n  %s\nwant\n  %s", i+1, asJSON(after), asJSON(snap))
		}
	}
	if _, _, err := s.Get(ctx, "com.example.Added"); !errors.Is(err, ErrNotFound) {
		t.Errorf("component added by the failed deployment: Get = %v, want ErrNotFound", err)
	}
	if got, _ := mustGet(t, s, "com.example.Outside"); got["v"] != "changed by someone else" {
		t.Errorf("Restore touched a component outside the snapshot: %s", asJSON(got))
	}
}

func TestStoreSnapshotOfNilTakesEveryComponent(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "a.One", obj(t, `{"x": 1}`), 0)
	mustPut(t, s, "b.Two", obj(t, `{}`), 0)
	snap, err := s.Snapshot(testContext(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Snapshot{"a.One": {"x": 1.0}, "b.Two": {}}); !reflect.DeepEqual(snap, want) {
		t.Fatalf("Snapshot(nil) = %s, want %s", asJSON(snap), asJSON(want))
	}
}

func TestStoreRestoreChecksEverythingBeforeWriting(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	mustPut(t, s, "com.example.Good", obj(t, `{"v": 1}`), 0)
	err := s.Restore(ctx, Snapshot{"com.example.Good": {"v": 2.0}, "bad name": nil})
	if !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Restore with a bad name = %v, want ErrInvalidName", err)
	}
	if got, _ := mustGet(t, s, "com.example.Good"); got["v"] != 1.0 {
		t.Fatalf("Restore wrote before failing: %s", asJSON(got))
	}
}

func TestStoreSurvivesBrokerRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jetstream")
	b, stop := startBroker(t, dir)
	s, _ := openStore(t, b)
	want := obj(t, `{"port": 8080, "nested": {"list": ["a"]}}`)
	rev := mustPut(t, s, "com.example.Durable", want, 0)
	mustPut(t, s, "com.example.Deleted", nil, 0)
	if err := s.Delete(testContext(t), "com.example.Deleted"); err != nil {
		t.Fatal(err)
	}
	stop()

	b2, _ := startBroker(t, dir) // same StoreDir: a nucleus restart
	s2, _ := openStore(t, b2)
	got, gotRev := mustGet(t, s2, "com.example.Durable")
	if !reflect.DeepEqual(got, want) || gotRev != rev {
		t.Fatalf("after restart: %s rev %d, want %s rev %d", asJSON(got), gotRev, asJSON(want), rev)
	}
	if _, _, err := s2.Get(testContext(t), "com.example.Deleted"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted configuration after restart: %v, want ErrNotFound", err)
	}
	// CAS carries on from the stored revision.
	mustPut(t, s2, "com.example.Durable", obj(t, `{"port": 1}`), rev)
}

func TestStoreRefusesNamesKVCannotHold(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	for _, name := range []string{"", "has space", ".leading", "trailing.", "double..dot", "wild*card", "wild>", "ünïcode"} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Put(ctx, name, nil, 0)
			if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), `"`+name+`"`) {
				t.Fatalf("Put(%q) = %v, want ErrInvalidName naming it", name, err)
			}
			if _, _, err := s.Get(ctx, name); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Get(%q) = %v, want ErrInvalidName", name, err)
			}
			if err := s.Delete(ctx, name); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidName", name, err)
			}
		})
	}
	for _, name := range []string{"aws.greengrass.Nucleus", "com.example.Hello-World_2", "x"} {
		mustPut(t, s, name, nil, 0)
	}
}

func TestStorePutRefusesWhatItCannotStore(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	// Exactly MaxConfigSize encoded ({"blob":"…"} adds 11 bytes) still fits
	// in one message with the CAS headers.
	atLimit := map[string]any{"blob": strings.Repeat("x", MaxConfigSize-11)}
	mustPut(t, s, "com.example.AtLimit", atLimit, 0)
	if got, _ := mustGet(t, s, "com.example.AtLimit"); got["blob"] != atLimit["blob"] {
		t.Fatal("configuration at the size limit did not come back whole")
	}
	big := map[string]any{"blob": strings.Repeat("x", MaxConfigSize-10)}
	if _, err := s.Put(ctx, "com.example.Big", big, 0); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "artifact") {
		t.Fatalf("oversized Put = %v, want ErrTooLarge suggesting an artifact", err)
	}
	if _, err := s.Put(ctx, "com.example.Chan", map[string]any{"c": make(chan int)}, 0); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("Put of a Go channel = %v, want ErrInvalidValue", err)
	}
	if _, _, err := s.Get(ctx, "com.example.Big"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused Put stored something: %v", err)
	}
}

func TestStoreNewRefusesABadBucketName(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	_, js := openStore(t, b)
	if _, err := New(js, Options{Bucket: "has.dot"}); err == nil || !strings.Contains(err.Error(), `"has.dot"`) {
		t.Fatalf("New with bucket has.dot = %v, want an error naming it", err)
	}
}

func TestWatchDeliversCurrentConfigurationsThenEveryChange(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Put(ctx, "a", map[string]any{"x": 1.0}, 0); err != nil {
		t.Fatal(err)
	}
	changes, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() Change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no change delivered")
			return Change{}
		}
	}
	if c := next(); c.Component != "a" || c.Config["x"] != 1.0 {
		t.Fatalf("initial value = %+v", c)
	}
	if _, err := s.Put(ctx, "b", map[string]any{"y": "z"}, 0); err != nil {
		t.Fatal(err)
	}
	if c := next(); c.Component != "b" || c.Config["y"] != "z" {
		t.Fatalf("put = %+v", c)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if c := next(); c.Component != "a" || c.Config != nil {
		t.Fatalf("delete = %+v, want a with nil config", c)
	}
	cancel()
	for range changes { // closed once ctx ends
	}
}
