package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestRunComponentIsRunningWhileRunRunsAndFinishedWhenItExitsZero(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "hello", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`while [ ! -f %q ]; do sleep 0.01; done; echo bye`, filepath.Join(m, "go")),
	}})

	st := waitState(t, s, "hello", StateRunning)
	if st.PID == 0 {
		t.Errorf("RUNNING status has no PID: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(m, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, s, "hello", StateFinished)
	if st.Reason != "Run exited 0" || st.PID != 0 {
		t.Errorf("FINISHED status = %+v, want reason %q and no PID", st, "Run exited 0")
	}
	rec.wantPath(t, "hello", StateNew, StateInstalled, StateRunning, StateFinished)
}

func TestComponentWithoutStartupOrRunFinishesAfterInstall(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "lib", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: script(`touch %q`, filepath.Join(m, "installed")),
	}})
	waitState(t, s, "lib", StateFinished)
	if !fileExists(filepath.Join(m, "installed")) {
		t.Error("Install did not run")
	}
}

func TestStartupExitingZeroIsRunningAndItsBackgroundChildIsKilledOnStop(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "daemon", Version: "1.0.0", Lifecycle: Lifecycle{
		Startup: script(`sleep 300 & echo $! > %q`, filepath.Join(m, "bg.pid")),
	}})

	st := waitState(t, s, "daemon", StateRunning)
	if st.Reason != "Startup exited 0" {
		t.Errorf("reason = %q", st.Reason)
	}
	bg := waitPIDs(t, filepath.Join(m, "bg.pid"), 1)[0]
	if !alive(bg) {
		t.Fatalf("background child %d of Startup is not running while the component is RUNNING", bg)
	}
	if err := s.Stop("daemon"); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, s, "daemon", StateFinished)
	if st.Reason != "stopped by request" {
		t.Errorf("reason = %q", st.Reason)
	}
	if !gone(bg) {
		t.Errorf("background child %d survived the stop", bg)
	}
	rec.wantPath(t, "daemon", StateNew, StateInstalled, StateStarting, StateRunning, StateStopping, StateFinished)
}

func TestKilledRunProcessIsErroredThenRecoverRunsAndItRunsAgain(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "svc", Version: "1.0.0", Lifecycle: Lifecycle{
		Run:     script(`echo started >> %q; exec sleep 300`, filepath.Join(m, "starts")),
		Recover: script(`echo recovered >> %q`, filepath.Join(m, "recover")),
	}})
	first := waitState(t, s, "svc", StateRunning)
	testutil.Until(t, "Run started once", func() bool { return len(readLines(filepath.Join(m, "starts"))) == 1 })
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, "Run started twice", func() bool { return len(readLines(filepath.Join(m, "starts"))) == 2 })
	second := waitState(t, s, "svc", StateRunning)
	if second.PID == first.PID || second.Restarts != 1 {
		t.Errorf("after restart: pid %d (was %d), restarts %d; want a new pid and 1 restart", second.PID, first.PID, second.Restarts)
	}
	if got := readLines(filepath.Join(m, "recover")); len(got) != 1 {
		t.Errorf("Recover ran %d times, want 1", len(got))
	}
	rec.wantPath(t, "svc", StateNew, StateInstalled, StateRunning,
		StateErrored, StateStopping, StateInstalled, StateRunning)
}

func TestThirdErrorFromTheSameStateIsBrokenAndStaysBroken(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "crashy", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`echo run >> %q; exit 3`, filepath.Join(m, "runs")),
	}})
	st := waitState(t, s, "crashy", StateBroken)
	if !strings.Contains(st.Reason, "3 errors from RUNNING") || !strings.Contains(st.Reason, "exited with code 3") {
		t.Errorf("BROKEN reason = %q, want the count, the state and the last error", st.Reason)
	}
	stays(t, s, "crashy", 300*time.Millisecond)
	if n := len(readLines(filepath.Join(m, "runs"))); n != 3 {
		t.Errorf("Run ran %d times, want 3", n)
	}
	if n := rec.count("crashy", StateErrored); n != 3 {
		t.Errorf("ERRORED %d times, want 3", n)
	}
}

func TestRestartingABrokenComponentGivesItAFreshStart(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "flaky", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: script(`echo i >> %q`, filepath.Join(m, "installs")),
		Run:     script(`[ -f %q ] && exec sleep 300; exit 1`, filepath.Join(m, "fixed")),
	}})
	waitState(t, s, "flaky", StateBroken)
	if err := os.WriteFile(filepath.Join(m, "fixed"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart("flaky"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "flaky", StateRunning)
	if n := len(readLines(filepath.Join(m, "installs"))); n != 2 {
		t.Errorf("Install ran %d times, want 2 (a fresh start reinstalls)", n)
	}
}

func TestInstallTimeoutIsAnErrorFromNew(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "slow", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: &Step{Script: "exec sleep 300", Timeout: 100 * time.Millisecond},
		Run:     script("exec sleep 300"),
	}})
	st := waitState(t, s, "slow", StateBroken)
	if !strings.Contains(st.Reason, "from NEW") || !strings.Contains(st.Reason, "Install timed out after 100ms") {
		t.Errorf("BROKEN reason = %q, want errors from NEW caused by the Install timeout", st.Reason)
	}
	if rec.count("slow", StateRunning) != 0 {
		t.Error("component ran although Install never completed")
	}
}

func TestStartupTimeoutUsesOptionsDefault(t *testing.T) {
	opts := testOptions(t)
	opts.DefaultTimeouts.Startup = 100 * time.Millisecond
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "hang", Version: "1.0.0", Lifecycle: Lifecycle{
		Startup: script("exec sleep 300"),
	}})
	st := waitState(t, s, "hang", StateBroken)
	if !strings.Contains(st.Reason, "from STARTING") || !strings.Contains(st.Reason, "timed out") {
		t.Errorf("BROKEN reason = %q", st.Reason)
	}
}

func TestSkipif(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mytool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	present := filepath.Join(t.TempDir(), "present")
	if err := os.WriteFile(present, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		skipif  Skipif
		wantRun bool
	}{
		{"onpath skips when the executable is on the step's PATH", Skipif{SkipifOnPath, "mytool"}, false},
		{"onpath runs when it is not", Skipif{SkipifOnPath, "no-such-tool"}, true},
		{"exists skips when the file exists", Skipif{SkipifExists, present}, false},
		{"exists runs when it does not", Skipif{SkipifExists, present + ".missing"}, true},
	}
	s, _ := startSupervisor(t, testOptions(t))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "ran")
			sk := tt.skipif
			name := "skip" + string(rune('a'+i))
			apply(t, s, Component{Name: name, Version: "1.0.0",
				Env:       map[string]string{"PATH": bin + ":/usr/bin:/bin"},
				Lifecycle: Lifecycle{Install: &Step{Script: "touch " + marker, Skipif: &sk}},
			})
			waitState(t, s, name, StateFinished)
			if got := fileExists(marker); got != tt.wantRun {
				t.Errorf("step ran = %v, want %v", got, tt.wantRun)
			}
		})
	}
}

func TestSetenvPrecedenceStepOverLifecycleOverComponentOverBase(t *testing.T) {
	opts := testOptions(t)
	opts.BaseEnv = []string{"PATH=/usr/bin:/bin", "A=base", "B=base", "C=base", "D=base"}
	s, _ := startSupervisor(t, opts)
	out := filepath.Join(t.TempDir(), "env")
	apply(t, s, Component{Name: "env", Version: "1.0.0",
		Env: map[string]string{"B": "component", "C": "component", "D": "component"},
		Lifecycle: Lifecycle{
			Setenv: map[string]string{"C": "lifecycle", "D": "lifecycle"},
			Install: &Step{Script: `echo "$A $B $C $D" > ` + out,
				Setenv: map[string]string{"D": "step"}},
		},
	})
	waitState(t, s, "env", StateFinished)
	b, _ := os.ReadFile(out)
	if got, want := strings.TrimSpace(string(b)), "base component lifecycle step"; got != want {
		t.Errorf("A B C D = %q, want %q", got, want)
	}
}

func TestStepsRunInTheComponentWorkFolder(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "wd", Version: "1.0.0", Lifecycle: Lifecycle{Install: script(`pwd > here`)}})
	st := waitState(t, s, "wd", StateFinished)
	b, err := os.ReadFile(filepath.Join(st.WorkDir, "here"))
	if err != nil || strings.TrimSpace(string(b)) != st.WorkDir {
		t.Errorf("pwd = %q (%v), want %s", b, err, st.WorkDir)
	}
	if fi, err := os.Stat(st.WorkDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("work folder mode = %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

func TestBootstrapRunsOncePerVersionAndExit100IsSuccess(t *testing.T) {
	opts := testOptions(t)
	boots := filepath.Join(t.TempDir(), "boots")
	comp := func(v string) Component {
		return Component{Name: "boot", Version: v, Lifecycle: Lifecycle{
			Bootstrap: script(`echo %s >> %q; exit 100`, v, boots),
		}}
	}
	for _, v := range []string{"1.0.0", "1.0.0", "2.0.0"} { // each a new nucleus start
		s, err := New(func() Options { o := opts; o.Logger = testLogger(); return o }())
		if err != nil {
			t.Fatal(err)
		}
		apply(t, s, comp(v))
		waitState(t, s, "boot", StateFinished)
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readLines(boots), []string{"1.0.0", "2.0.0"}; !slices.Equal(got, want) {
		t.Errorf("Bootstrap ran for %v, want %v", got, want)
	}
}
