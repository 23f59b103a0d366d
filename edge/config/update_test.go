package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// update is one Store.Update call of a table test.
type update struct {
	keyPath []string
	value   map[string]any
	ts      int64
}

func TestUpdateTimestampRule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		earlier []update // accepted, in order
		next    update
		stale   bool
	}{
		{"first update of a key is accepted", nil, update{[]string{"a"}, map[string]any{"x": 1.0}, 1000}, false},
		{"older update of the same key is refused",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"a"}, map[string]any{"x": 2.0}, 1000}, true},
		{"equal timestamp is accepted",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"a"}, map[string]any{"x": 2.0}, 2000}, false},
		{"newer update is accepted",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"a"}, map[string]any{"x": 2.0}, 3000}, false},
		{"older update of another key is accepted",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"b"}, map[string]any{"x": 2.0}, 1000}, false},
		{"older update above a newer key is refused",
			[]update{{[]string{"a", "x"}, map[string]any{"y": 1.0}, 2000}}, update{[]string{"a"}, map[string]any{"z": 2.0, "x": 3.0}, 1000}, true},
		{"older update below a newer key is refused",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"a", "x"}, map[string]any{"deep": 2.0}, 1000}, true},
		{"older update from the root reaching a newer key is refused",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{nil, map[string]any{"a": map[string]any{"x": 2.0}}, 1000}, true},
		{"older update from the root of other keys is accepted",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{nil, map[string]any{"c": 2.0}, 1000}, false},
		{"older sibling under the same parent is accepted",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 2000}}, update{[]string{"a"}, map[string]any{"y": 2.0}, 1000}, false},
		{"a later update of a parent replaces the timestamps below it",
			[]update{{[]string{"a"}, map[string]any{"x": 1.0}, 3000}, {nil, map[string]any{"a": 5.0}, 4000}},
			update{[]string{"b"}, map[string]any{"x": 1.0}, 3500}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for _, u := range tc.earlier {
				if err := s.Update(testContext(t), "com.example.A", u.keyPath, u.value, u.ts); err != nil {
					t.Fatalf("earlier Update(%v, %v, %d): %v", u.keyPath, u.value, u.ts, err)
				}
			}
			before, _, _ := s.Get(testContext(t), "com.example.A")
			err := s.Update(testContext(t), "com.example.A", tc.next.keyPath, tc.next.value, tc.next.ts)
			switch {
			case tc.stale && !errors.Is(err, ErrStale):
				t.Fatalf("Update = %v, want ErrStale", err)
			case tc.stale:
				if after, _ := mustGet(t, s, "com.example.A"); !reflect.DeepEqual(after, before) {
					t.Errorf("refused update changed the configuration: %v, was %v", after, before)
				}
			case err != nil:
				t.Fatalf("Update = %v, want accepted", err)
			}
		})
	}
}

func TestUpdateMergesAtKeyPath(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "com.example.A", map[string]any{"keep": true, "limits": map[string]any{"max": 1.0, "min": 0.0}}, 0)
	if err := s.Update(testContext(t), "com.example.A", []string{"limits"}, map[string]any{"max": 5.0}, 0); err != nil {
		t.Fatal(err)
	}
	got, _ := mustGet(t, s, "com.example.A")
	want := map[string]any{"keep": true, "limits": map[string]any{"max": 5.0, "min": 0.0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after Update: %v, want %v", got, want)
	}
}

func TestUpdateRefusesBadInputNamingTheProblem(t *testing.T) {
	deep := map[string]any{}
	node := deep
	for range MaxDepth {
		next := map[string]any{}
		node["k"] = next
		node = next
	}
	wide := map[string]any{}
	for i := range maxUpdateLeaves + 1 {
		wide[fmt.Sprintf("k%d", i)] = 1.0
	}
	for _, tc := range []struct {
		name    string
		keyPath []string
		value   map[string]any
		wantErr error
		wantMsg string
	}{
		{"empty key in keyPath", []string{"a", ""}, map[string]any{"x": 1.0}, ErrBadPointer, "empty key"},
		{"too deep", []string{"a"}, deep, ErrInvalidValue, "levels deep"},
		{"too many keys", nil, wide, ErrInvalidValue, "send at most"},
		{"no value", nil, nil, ErrInvalidValue, "valueToMerge must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newStore(t).Update(testContext(t), "com.example.A", tc.keyPath, tc.value, 0)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Update = %v, want %v saying %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

func TestUpdateTimestampsSurviveAReopenedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jetstream")
	b, stop := startBroker(t, dir)
	s, _ := openStore(t, b)
	if err := s.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 2.0}, 2000); err != nil {
		t.Fatal(err)
	}
	stop()

	b2, _ := startBroker(t, dir) // same StoreDir: a nucleus restart
	s2, _ := openStore(t, b2)
	if err := s2.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 1.0}, 1000); !errors.Is(err, ErrStale) {
		t.Fatalf("Update older than the stored timestamp after a restart = %v, want ErrStale", err)
	}
	if err := s2.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 3.0}, 3000); err != nil {
		t.Fatalf("Update newer than the stored timestamp after a restart: %v", err)
	}
	if got, _ := mustGet(t, s2, "com.example.A"); !reflect.DeepEqual(got, map[string]any{"a": map[string]any{"x": 3.0}}) {
		t.Errorf("configuration after the restart = %v", got)
	}
}

func TestPutAndRestoreKeepTheTimestamps(t *testing.T) {
	s := newStore(t)
	if err := s.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 2.0}, 2000); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot(testContext(t), []string{"com.example.A"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, rev := mustGet(t, s, "com.example.A")
	cfg["deployed"] = true // what a deployment writes
	mustPut(t, s, "com.example.A", cfg, rev)
	if err := s.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 1.0}, 1000); !errors.Is(err, ErrStale) {
		t.Fatalf("Update older than the stored timestamp after a Put = %v, want ErrStale", err)
	}
	if err := s.Restore(testContext(t), snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(testContext(t), "com.example.A", []string{"a"}, map[string]any{"x": 1.0}, 1000); !errors.Is(err, ErrStale) {
		t.Fatalf("Update older than the stored timestamp after a Restore = %v, want ErrStale", err)
	}
	if got, _ := mustGet(t, s, "com.example.A"); !reflect.DeepEqual(got, map[string]any(snap["com.example.A"])) {
		t.Errorf("after Restore: %v, want %v", got, snap["com.example.A"])
	}
}

func TestStoredRecordWithoutTimestampsStillReads(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	s, js := openStore(t, b)
	kv, err := js.KeyValue(testContext(t), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(testContext(t), "com.example.Old", []byte(`{"a":1}`)); err != nil { // as written before timestamps were stored
		t.Fatal(err)
	}
	if err := s.Update(testContext(t), "com.example.Old", []string{"b"}, map[string]any{"x": 1.0}, 1000); err != nil {
		t.Fatalf("Update of a configuration stored without timestamps: %v", err)
	}
	if got, _ := mustGet(t, s, "com.example.Old"); !reflect.DeepEqual(got, map[string]any{"a": 1.0, "b": map[string]any{"x": 1.0}}) {
		t.Errorf("configuration = %v", got)
	}
}

func TestLookupServesFromTheWatchCacheAndNamesWhatIsMissing(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "com.example.A", map[string]any{"a": map[string]any{"x": 1.0}, "leaf": "v"}, 0)
	ctx := testContext(t)
	if _, err := s.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		comp    string
		keyPath []string
		want    any
		wantMsg string
	}{
		{"whole configuration", "com.example.A", nil, map[string]any{"a": map[string]any{"x": 1.0}, "leaf": "v"}, ""},
		{"leaf", "com.example.A", []string{"a", "x"}, 1.0, ""},
		{"missing key", "com.example.A", []string{"a", "y"}, nil, "key path a/y is not in component com.example.A's configuration"},
		{"through a leaf", "com.example.A", []string{"leaf", "y"}, nil, "key path leaf/y of component com.example.A: leaf is not an object"},
		{"unknown component", "com.example.B", nil, nil, "component com.example.B has no configuration on this device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Lookup(testContext(t), tc.comp, tc.keyPath)
			if tc.wantMsg != "" {
				if !errors.Is(err, ErrNotFound) || err.Error() != tc.wantMsg {
					t.Errorf("Lookup = %v, want ErrNotFound %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Lookup = %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}
func TestChangedPathsListsChangedLeaves(t *testing.T) {
	a := map[string]any{"x": 1.0, "o": map[string]any{"p": 1.0, "q": 2.0}, "gone": true}
	b := map[string]any{"x": 1.0, "o": map[string]any{"p": 5.0, "q": 2.0}, "new": map[string]any{"n": 1.0}}
	var got []string
	for _, p := range ChangedPaths(a, b) {
		got = append(got, strings.Join(p, "/"))
	}
	if strings.Join(got, ",") != "gone,new/n,o/p" {
		t.Errorf("ChangedPaths = %v, want [gone new/n o/p]", got)
	}
}

func TestConcurrentUpdatesOfOneStoreAllLand(t *testing.T) {
	s := newStore(t)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(testContext(t), "com.example.A", []string{"k"}, map[string]any{fmt.Sprintf("u%d", i): 1.0}, 1000)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Update: %v", err)
		}
	}
	if got, _ := mustGet(t, s, "com.example.A"); len(got["k"].(map[string]any)) != n {
		t.Errorf("after %d concurrent updates: %v", n, got)
	}
}

func TestLookupWithoutAWatchSeesOtherWriters(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	a, _ := openStore(t, b)
	other, _ := openStore(t, b) // another writer on the same bucket
	if err := a.Update(testContext(t), "com.example.A", nil, map[string]any{"v": 1.0}, 0); err != nil {
		t.Fatal(err)
	}
	_, rev := mustGet(t, other, "com.example.A")
	mustPut(t, other, "com.example.A", map[string]any{"v": 2.0}, rev)
	if got, err := a.Lookup(testContext(t), "com.example.A", []string{"v"}); err != nil || got != 2.0 {
		t.Errorf("Lookup with no watch running = %v, %v, want the other writer's 2", got, err)
	}
}
