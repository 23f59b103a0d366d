package lifecycle

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestApplyReplacesAChangedVersionStoppingTheOldOneFirst(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	log := filepath.Join(m, "log")
	comp := func(v string) Component {
		return Component{Name: "svc", Version: v, Lifecycle: Lifecycle{
			Run:      script(`echo run-%s >> %q; exec sleep 300`, v, log),
			Shutdown: script(`echo stop-%s >> %q`, v, log),
		}}
	}
	apply(t, s, comp("1.0.0"))
	old := waitState(t, s, "svc", StateRunning)
	testutil.Until(t, "1.0.0 running", func() bool { return len(readLines(log)) == 1 })
	apply(t, s, comp("2.0.0"))
	testutil.Until(t, "version 2.0.0 RUNNING", func() bool {
		st, _ := s.Status("svc")
		return st.Version == "2.0.0" && st.State == StateRunning && len(readLines(log)) == 3
	})
	if got, want := readLines(log), []string{"run-1.0.0", "stop-1.0.0", "run-2.0.0"}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	if !gone(old.PID) {
		t.Errorf("version 1.0.0's process %d survived its replacement", old.PID)
	}
}

func TestApplyLeavesUnchangedComponentsAloneAndRemovesMissingOnes(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	keep := Component{Name: "keep", Version: "1.0.0", Lifecycle: Lifecycle{Run: script("exec sleep 300")}}
	drop := Component{Name: "drop", Version: "1.0.0", Lifecycle: Lifecycle{Run: script("exec sleep 300")}}
	apply(t, s, keep, drop)
	k := waitState(t, s, "keep", StateRunning)
	d := waitState(t, s, "drop", StateRunning)
	apply(t, s, keep)
	testutil.Until(t, "drop removed", func() bool { _, ok := s.Status("drop"); return !ok })
	if !gone(d.PID) {
		t.Errorf("removed component's process %d survived", d.PID)
	}
	if now, _ := s.Status("keep"); now.PID != k.PID || now.Restarts != 0 {
		t.Errorf("unchanged component was restarted: %+v", now)
	}
	if err := s.Restart("drop"); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("Restart(removed) = %v, want ErrUnknownComponent", err)
	}
}

func TestApplyRejectsInvalidSets(t *testing.T) {
	run := Lifecycle{Run: script("true")}
	dep := func(names ...string) []Dependency {
		var ds []Dependency
		for _, n := range names {
			ds = append(ds, Dependency{Name: n, Hard: n != "c"})
		}
		return ds
	}
	tests := []struct {
		name    string
		set     []Component
		wantErr error
		wantMsg string
	}{
		{"a cycle is named", []Component{
			{Name: "a", Lifecycle: run, Dependencies: dep("b")},
			{Name: "b", Lifecycle: run, Dependencies: dep("c")},
			{Name: "c", Lifecycle: run, Dependencies: dep("a")},
		}, ErrDependencyCycle, "a -> b -> c -> a"},
		{"self dependency", []Component{{Name: "a", Lifecycle: run, Dependencies: dep("a")}}, ErrDependencyCycle, "a depends on itself"},
		{"duplicate names", []Component{{Name: "a", Lifecycle: run}, {Name: "a", Lifecycle: run}}, ErrInvalidComponent, "a appears twice"},
		{"Startup and Run", []Component{{Name: "a", Lifecycle: Lifecycle{Startup: script("true"), Run: script("true")}}}, ErrInvalidComponent, "both Startup and Run"},
		{"unknown Skipif", []Component{{Name: "a", Lifecycle: Lifecycle{Run: &Step{Script: "true", Skipif: &Skipif{Kind: "maybe", Arg: "x"}}}}}, ErrInvalidComponent, `Skipif kind "maybe"`},
		{"name with a slash", []Component{{Name: "../etc", Lifecycle: run}}, ErrInvalidComponent, "cannot be used as a folder name"},
		{"empty script", []Component{{Name: "a", Lifecycle: Lifecycle{Install: &Step{}}}}, ErrInvalidComponent, "step Install has an empty Script"},
	}
	s, _ := startSupervisor(t, testOptions(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Apply(tt.set)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Apply = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("a rejected Apply changed the set: %v", l)
	}
}

func TestNewRejectsIncompleteOptions(t *testing.T) {
	_, err := New(Options{WorkDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Options.LogDir is empty") || !strings.Contains(err.Error(), "Options.StateDir is empty") {
		t.Errorf("New = %v, want errors naming LogDir and StateDir", err)
	}
	opts := testOptions(t)
	opts.RunAs = "no-such-user-here"
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), `user "no-such-user-here" not found`) {
		t.Errorf("New with unknown RunAs = %v", err)
	}
}

// A set applied again before the replacement it undoes has started (its
// runner still waits for the old version to stop) must wait for the old
// version too: the three runners share the component's name, work folder
// and cgroup.
func TestUndoingAReplacementBeforeItStartsWaitsForTheOldVersionToStop(t *testing.T) {
	opts := testOptions(t)
	opts.StopGrace = time.Second
	s, rec := startSupervisor(t, opts)
	starts := filepath.Join(t.TempDir(), "starts")
	// v1 ignores SIGTERM, so its stop takes the whole grace period.
	v1 := Component{Name: "app", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`echo $$ >> %q; trap '' TERM; while :; do sleep 0.05; done`, starts)}}
	v2 := Component{Name: "app", Version: "2.0.0", Lifecycle: Lifecycle{
		Install: script("sleep 5"), Run: script("exec sleep 300")}}
	apply(t, s, v1)
	waitState(t, s, "app", StateRunning)
	first := waitPIDs(t, starts, 1)[0]

	apply(t, s, v2)
	apply(t, s, v1) // the rollback, while 1.0.0 is still stopping
	st := waitState(t, s, "app", StateRunning)
	if st.Version != "1.0.0" {
		t.Fatalf("app is %s %s, want 1.0.0 RUNNING", st.Version, st.State)
	}
	if alive(first) {
		t.Errorf("1.0.0 started again while its first run (pid %d) still ran", first)
	}
	stays(t, s, "app", 2*time.Second)
	if n := rec.count("app", StateErrored); n > 0 {
		t.Fatalf("app went ERRORED %d times: %v", n, rec.path("app"))
	}
}
