package lifecycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestStopRunsShutdownThenSIGTERMThenSIGKILLAfterTheGracePeriod(t *testing.T) {
	opts := testOptions(t)
	// Room for the shell to run its trap on a loaded machine before SIGKILL.
	opts.StopGrace = time.Second
	s, _ := startSupervisor(t, opts)
	m := t.TempDir()
	order := filepath.Join(m, "order")
	apply(t, s, Component{Name: "stubborn", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`trap 'echo term >> %q' TERM; echo $$ > %q; while :; do sleep 0.02; done`,
			order, filepath.Join(m, "pid")),
		Shutdown: script(`echo shutdown >> %q`, order),
	}})
	waitState(t, s, "stubborn", StateRunning)
	pid := waitPIDs(t, filepath.Join(m, "pid"), 1)[0] // the trap is installed

	began := time.Now()
	if err := s.Stop("stubborn"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "stubborn", StateFinished)
	if took := time.Since(began); took < opts.StopGrace {
		t.Errorf("stop took %s, less than the grace period %s: SIGKILL came early", took, opts.StopGrace)
	}
	if got := readLines(order); len(got) < 2 || got[0] != "shutdown" || got[1] != "term" {
		t.Errorf("order = %v, want Shutdown step then SIGTERM", got)
	}
	if !gone(pid) {
		t.Errorf("process %d ignoring SIGTERM survived the stop", pid)
	}
}

func TestSupervisorShutdownLeavesNoProcessOfAnyGroup(t *testing.T) {
	s, err := New(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	m := t.TempDir()
	pids := filepath.Join(m, "pids")
	apply(t, s,
		Component{Name: "startup", Version: "1.0.0", Lifecycle: Lifecycle{
			Startup: script(`(trap '' TERM; sleep 300) & echo $! >> %[1]q; sleep 300 & echo $! >> %[1]q`, pids),
		}},
		Component{Name: "run", Version: "1.0.0", Lifecycle: Lifecycle{
			Run: script(`sleep 300 & echo $! >> %[1]q; echo $$ >> %[1]q; wait`, pids),
		}},
	)
	waitState(t, s, "startup", StateRunning)
	waitState(t, s, "run", StateRunning)
	all := waitPIDs(t, pids, 4)
	var pgids []int
	for _, p := range all {
		if !alive(p) {
			t.Fatalf("process %d is not running before Shutdown", p)
		}
		g, _ := syscall.Getpgid(p)
		pgids = append(pgids, g)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if !gone(p) {
			t.Errorf("process %d survived Shutdown (zombie or running)", p)
		}
	}
	for _, g := range slices.Compact(slices.Sorted(slices.Values(pgids))) {
		if err := syscall.Kill(-g, 0); err != syscall.ESRCH {
			t.Errorf("process group %d still has members after Shutdown: %v", g, err)
		}
	}
	if l := s.List(); len(l) != 0 {
		t.Errorf("List after Shutdown = %v, want empty", l)
	}
	if err := s.Apply(nil); err != ErrShutdown {
		t.Errorf("Apply after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestNewTerminatesProcessGroupsLeftByACrashedSupervisor runs a supervisor
// in a child process (this test binary, see crashHelper), kills it with
// SIGKILL while its component's background process runs, and checks that
// the next New finds the pgid record and terminates the group.
func TestNewTerminatesProcessGroupsLeftByACrashedSupervisor(t *testing.T) {
	// The orphan must be re-parented to this process (as it would be to a
	// restarted nucleus under a service manager) so that it can be reaped.
	if err := becomeSubreaper(); err != nil {
		t.Fatalf("this test needs PR_SET_CHILD_SUBREAPER (Linux 3.4+): %v", err)
	}
	opts := testOptions(t)
	root := filepath.Dir(opts.WorkDir)
	helper := exec.Command(testBinary(t), "-test.run=^$")
	helper.Env = append(helper.Environ(), "SWARD_LIFECYCLE_CRASH_HELPER="+root)
	helper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	bg := waitPIDs(t, filepath.Join(root, "bg.pid"), 1)[0]
	testutil.Until(t, "helper's component RUNNING", func() bool { return fileExists(filepath.Join(root, "ready")) })

	if err := helper.Process.Kill(); err != nil { // the crash
		t.Fatal(err)
	}
	_ = helper.Wait()
	if !alive(bg) {
		t.Fatalf("background process %d died with the supervisor; the test shows nothing", bg)
	}
	if !fileExists(filepath.Join(opts.StateDir, "crashy.pgid")) {
		t.Fatal("no pgid record left by the crashed supervisor")
	}
	s, _ := startSupervisor(t, opts)
	_ = s
	if !gone(bg) {
		t.Errorf("New left process %d of the crashed supervisor running", bg)
	}
	if fileExists(filepath.Join(opts.StateDir, "crashy.pgid")) {
		t.Error("New kept the stale pgid record")
	}
}

func testBinary(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// crashHelper is the supervisor that crashes: it runs one component whose
// Startup leaves a background process, then waits to be killed.
func crashHelper(root string) {
	opts := Options{
		WorkDir:   filepath.Join(root, "work"),
		LogDir:    filepath.Join(root, "logs"),
		StateDir:  filepath.Join(root, "state"),
		Logger:    testLogger(),
		StopGrace: testGrace,
	}
	s, err := New(opts)
	if err != nil {
		panic(err)
	}
	if err := s.Apply([]Component{{Name: "crashy", Version: "1.0.0", Lifecycle: Lifecycle{
		Startup: script(`sleep 300 & echo $! > %q`, filepath.Join(root, "bg.pid")),
	}}}); err != nil {
		panic(err)
	}
	for {
		if st, _ := s.Status("crashy"); st.State == StateRunning {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := writeFileSync(filepath.Join(root, "ready"), []byte(strconv.Itoa(1))); err != nil {
		panic(err)
	}
	select {}
}
