//go:build linux

package lifecycle

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// needCgroups fails a test that needs the nucleus's cgroups: root and a
// cgroup hierarchy (CI runs the unit tests as root).
func needCgroups(t *testing.T) {
	t.Helper()
	tree, err := openCgroupTree(t.TempDir())
	if err != nil {
		t.Fatalf("this test needs component cgroups, which are off: %v; run the unit tests as root (sudo make test)", err)
	}
	tree.remove()
}

// daemonScript starts a `sleep 1000` that leaves its process group and
// session (setsid after a double fork) and writes its pid to pidFile, then
// keeps the step running.
func daemonScript(pidFile string) *Step {
	return script(`(setsid sh -c 'sleep 1000 & echo $! >> %q' &); exec sleep 1000`, pidFile)
}

func TestStopEndsADaemonThatLeftItsProcessGroup(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	pids := filepath.Join(t.TempDir(), "pids")
	apply(t, s, Component{Name: "daemon", Version: "1.0.0", Lifecycle: Lifecycle{Run: daemonScript(pids)}})
	waitState(t, s, "daemon", StateRunning)
	d := waitPIDs(t, pids, 1)[0]

	if err := s.Stop("daemon"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "daemon", StateFinished)
	testutil.Until(t, "the daemonized grandchild ends with the stop", func() bool { return gone(d) })
}

func TestRestartsDoNotMultiplyDaemons(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	pids := filepath.Join(t.TempDir(), "pids")
	apply(t, s, Component{Name: "daemon", Version: "1.0.0", Lifecycle: Lifecycle{Run: daemonScript(pids)}})
	for i := 1; i <= 3; i++ {
		waitPIDs(t, pids, i)
		if err := s.Restart("daemon"); err != nil {
			t.Fatal(err)
		}
	}
	all := waitPIDs(t, pids, 4)
	testutil.Until(t, "only the daemon of the last start runs", func() bool {
		n := 0
		for _, p := range all {
			if !gone(p) {
				n++
			}
		}
		return n == 1 && !gone(all[3])
	})
}

func TestNewEndsTheProcessesInTheCgroupsOfACrashedNucleus(t *testing.T) {
	needCgroups(t)
	opts := testOptions(t)
	tree, err := openCgroupTree(opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	// What a killed nucleus leaves: a component cgroup with a daemon in it
	// and no record of its process group.
	cg := tree.component("crashed")
	if err := cg.create(ResourceLimits{}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started, err := cg.enter(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := started(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	startSupervisor(t, opts)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process in the cgroup of the crashed nucleus still runs after New")
	}
	if _, err := os.Stat(cg.dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup of the crashed nucleus is still there: %v", err)
	}
}

func TestMemoryLimitOOMKillsTheComponentAndSaysWhy(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	// tail keeps the last line of /dev/zero, which never ends: it grows
	// until the limit stops it.
	apply(t, s, Component{Name: "hog", Version: "1.0.0", Limits: ResourceLimits{MemoryKB: 16 * 1024},
		Lifecycle: Lifecycle{Run: script(`tail /dev/zero`)}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.WaitUntil(ctx, "hog", func(st Status) bool {
		return strings.Contains(st.Reason, "memory limit of 16384 KB")
	})
	if err != nil {
		t.Fatalf("no state names the memory limit: %v", err)
	}
	if st.State != StateErrored && st.State != StateBroken && st.State != StateStopping && st.State != StateInstalled {
		t.Errorf("state %s after an OOM kill, want ERRORED on the way to a restart or BROKEN", st.State)
	}
	waitState(t, s, "hog", StateBroken)
}

func TestCPULimitIsWrittenToTheComponentCgroup(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "calm", Version: "1.0.0", Limits: ResourceLimits{CPUs: 0.5, MemoryKB: 65536},
		Lifecycle: Lifecycle{Run: script(`exec sleep 1000`)}})
	waitState(t, s, "calm", StateRunning)
	r := runnerOf(t, s, "calm")
	for file, want := range map[string]string{"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
		"memory/memory.limit_in_bytes": strconv.Itoa(65536 * 1024)} {
		b, err := os.ReadFile(r.cg.file(file))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
}

func TestDefaultLimitsFillWhatAComponentLeavesOut(t *testing.T) {
	needCgroups(t)
	opts := testOptions(t)
	opts.DefaultLimits = ResourceLimits{MemoryKB: 32768, CPUs: 1}
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "half", Version: "1.0.0", Limits: ResourceLimits{CPUs: 0.5},
		Lifecycle: Lifecycle{Run: script(`exec sleep 1000`)}})
	waitState(t, s, "half", StateRunning)
	r := runnerOf(t, s, "half")
	for file, want := range map[string]string{"cpu/cpu.cfs_quota_us": "50000", "memory/memory.limit_in_bytes": strconv.Itoa(32768 * 1024)} {
		b, err := os.ReadFile(r.cg.file(file))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
}

func TestPauseFreezesEveryProcessAndResumeThawsThem(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	counter := filepath.Join(t.TempDir(), "counter")
	apply(t, s, Component{Name: "ticker", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`i=0; while :; do i=$((i+1)); echo $i > %q; sleep 0.01; done`, counter)}})
	waitState(t, s, "ticker", StateRunning)
	testutil.Until(t, "the ticker ticks", func() bool { return len(readLines(counter)) > 0 })

	if err := s.Pause("ticker"); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status("ticker"); !st.Paused {
		t.Errorf("status after Pause: Paused = false")
	}
	frozenAt := readLines(counter)
	stays(t, s, "ticker", 200*time.Millisecond)
	if got := readLines(counter); strings.Join(got, "") != strings.Join(frozenAt, "") {
		t.Errorf("counter moved from %v to %v while paused", frozenAt, got)
	}
	if err := s.Resume("ticker"); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, "the ticker ticks again after Resume", func() bool {
		got := readLines(counter)
		return len(got) > 0 && len(frozenAt) > 0 && got[0] != frozenAt[0]
	})
	if st, _ := s.Status("ticker"); st.Paused {
		t.Errorf("status after Resume: Paused = true")
	}
}

func TestStoppingAPausedComponentEndsIt(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	pids := filepath.Join(t.TempDir(), "pids")
	apply(t, s, Component{Name: "daemon", Version: "1.0.0", Lifecycle: Lifecycle{Run: daemonScript(pids)}})
	waitState(t, s, "daemon", StateRunning)
	d := waitPIDs(t, pids, 1)[0]
	if err := s.Pause("daemon"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop("daemon"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "daemon", StateFinished)
	testutil.Until(t, "the paused daemon ends with the stop", func() bool { return gone(d) })
}

func TestStoppingAPausedComponentRunsItsShutdownStepAtOnce(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "svc", Version: "1.0.0", Lifecycle: Lifecycle{
		Run:      script(`exec sleep 1000`),
		Shutdown: script(`echo done > %q`, filepath.Join(m, "shutdown")),
	}})
	waitState(t, s, "svc", StateRunning)
	if err := s.Pause("svc"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := s.Stop("svc"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "svc", StateFinished)
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("stopping a paused component took %s: its Shutdown step ran frozen until its timeout", took)
	}
	if got := readLines(filepath.Join(m, "shutdown")); len(got) != 1 || got[0] != "done" {
		t.Errorf("Shutdown step output %v, want it run", got)
	}
}

func TestPauseRefusesAComponentThatIsNotRunning(t *testing.T) {
	needCgroups(t)
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "done", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`true`)}})
	waitState(t, s, "done", StateFinished)
	if err := s.Pause("done"); !errors.Is(err, ErrNotPausable) {
		t.Errorf("Pause of a FINISHED component: %v, want ErrNotPausable", err)
	}
	if err := s.Pause("nobody"); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("Pause of an unknown component: %v, want ErrUnknownComponent", err)
	}
}

// TestCgroupV2KillsFreezesAndPlacesBeforeExec runs the v2 code path on the
// v2 hierarchy this machine has (without controllers, so no limits): the
// process is created inside the cgroup, a daemon it starts is too, freeze
// and thaw work, and cgroup.kill ends all of it.
func TestCgroupV2KillsFreezesAndPlacesBeforeExec(t *testing.T) {
	needCgroups(t)
	mnt := cgroupRoot
	if _, err := os.Stat(filepath.Join(mnt, "unified", "cgroup.procs")); err == nil {
		mnt = filepath.Join(mnt, "unified") // a hybrid machine: the v2 hierarchy beside v1
	}
	id := nucleusCgroupID(t.TempDir())
	tree, err := newCgroupTree(mnt, true, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tree.remove)
	cg := tree.component("v2")
	if err := cg.create(ResourceLimits{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.remove() })
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command("/bin/sh", "-c", `(setsid sh -c 'sleep 1000 & echo $! > `+pidFile+`' &); exec sleep 1000`)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	started, err := cg.enter(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := started(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	d := waitPIDs(t, pidFile, 1)[0]
	testutil.Until(t, "the step and its daemon are in the cgroup", func() bool {
		ps := cg.pids()
		return len(ps) == 2
	})
	if err := cg.setFrozen(true); err != nil {
		t.Fatal(err)
	}
	if !cg.frozen() {
		t.Error("frozen() = false after setFrozen(true)")
	}
	if err := cg.setFrozen(false); err != nil {
		t.Fatal(err)
	}
	killed, err := cg.kill()
	if err != nil {
		t.Fatal(err)
	}
	reapPids(killed, nil)
	testutil.Until(t, "the daemon ends with cgroup.kill", func() bool { return gone(d) })
}

// runnerOf returns the current runner of name.
func runnerOf(t *testing.T, s *Supervisor, name string) *runner {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runners[name]
	if r == nil {
		t.Fatalf("no runner for %s", name)
	}
	return r
}
