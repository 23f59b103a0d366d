package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// groupPollInterval is how often a stop checks whether a process group
	// is gone: short enough that a stop ends within a few milliseconds of
	// the last exit, long enough that a stop costs a few hundred /proc
	// scans at most.
	groupPollInterval = 10 * time.Millisecond
	// killWait bounds the wait after SIGKILL, which cannot be caught; a
	// group still there after it has a process stuck in the kernel
	// (uninterruptible I/O) and is logged rather than waited for forever.
	killWait = 10 * time.Second
	// logDrainWait bounds how long a finished component waits for its log
	// readers; they end when the last process holding the pipes exits, so
	// waiting longer means a process escaped its group.
	logDrainWait = time.Second
)

// proc is one started step: the shell and its process group (pgid == pid).
type proc struct {
	step   string
	pid    int
	exited chan struct{} // closed once the shell is reaped
	err    error         // exec.Cmd.Wait result, valid after exited
}

// exitDescription says how the process ended, for reasons and errors.
func (p *proc) exitDescription() string {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "was killed by signal " + ws.Signal().String()
		}
		return "exited with code " + strconv.Itoa(ee.ExitCode())
	}
	if p.err != nil {
		return "failed: " + p.err.Error()
	}
	return "exited with code 0"
}

func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// start runs script under /bin/sh -c in its own process group, with output
// going to the component log, and records the group.
func (r *runner) start(step string, st *Step) (*proc, error) {
	env := r.stepEnv(st)
	cmd := exec.Command("/bin/sh", "-c", st.Script)
	cmd.Dir = r.workDir
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(r.credential(step, st))
	stdout, err := r.out.pipe(step, "stdout")
	if err != nil {
		return nil, fmt.Errorf("component %s step %s: cannot create output pipe: %w", r.comp.Name, step, err)
	}
	stderr, err := r.out.pipe(step, "stderr")
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("component %s step %s: cannot create output pipe: %w", r.comp.Name, step, err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	started, err := r.enterCgroup(cmd)
	if err == nil {
		err = cmd.Start()
		err = errors.Join(err, r.joinedCgroup(cmd, started, err))
	}
	// The child holds its own copies; closing ours lets the readers see EOF
	// when the last process of the step exits.
	stdout.Close()
	stderr.Close()
	if err != nil {
		return nil, fmt.Errorf("component %s step %s: cannot start /bin/sh in %s: %w; check that /bin/sh exists and the work folder is accessible to the step's user", r.comp.Name, step, r.workDir, err)
	}
	cmd.Env = nil // the child has its copy; the exit watcher keeps cmd as long as the step runs
	p := &proc{step: step, pid: cmd.Process.Pid, exited: make(chan struct{})}
	r.addGroup(p.pid)
	exited := func(err error) {
		p.err = err
		close(p.exited)
	}
	if r.s.poller == nil || !r.s.poller.waitExit(p.pid, cmd.Wait, exited) {
		go func() {
			waitExited(p.pid) // in the runtime's poller: no OS thread blocked in waitid
			exited(cmd.Wait())
		}()
	}
	return p, nil
}

// terminateGroup sends SIGTERM to process group pgid, SIGKILL after grace,
// and returns once no process of the group is left (orphans reaped).
// leaderWaited says an exec.Cmd of this supervisor reaps the group leader.
func terminateGroup(pgid int, grace time.Duration, leaderWaited bool) error {
	if waitGroupGone(pgid, 0, leaderWaited) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if waitGroupGone(pgid, grace, leaderWaited) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if waitGroupGone(pgid, killWait, leaderWaited) {
		return nil
	}
	return fmt.Errorf("process group %d survived SIGKILL for %s (a process stuck in the kernel?)", pgid, killWait)
}

// waitGroupGone polls until group pgid has no process left, reaping orphans
// re-parented to the nucleus, for at most d.
func waitGroupGone(pgid int, d time.Duration, leaderWaited bool) bool {
	deadline := time.Now().Add(d)
	for {
		reapOrphans(pgid, leaderWaited)
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(groupPollInterval)
	}
}

// terminateGroups terminates several groups in parallel, so a stop takes
// one grace period, not one per group.
func terminateGroups(pgids []int, grace time.Duration, leaderWaited bool) error {
	errs := make([]error, len(pgids))
	var wg sync.WaitGroup
	for i, g := range pgids {
		wg.Go(func() { errs[i] = terminateGroup(g, grace, leaderWaited) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Process-group records: StateDir/<name>.pgid holds one "<pgid> <boot id>"
// line per live group of the component. They are written without fsync on
// purpose: they matter only when the nucleus dies while the machine keeps
// running, and then the page cache survives; after a power loss the groups
// are gone too (and the boot id differs).

func (r *runner) pgidPath() string { return filepath.Join(r.s.opts.StateDir, r.comp.Name+".pgid") }

func (r *runner) addGroup(pgid int) {
	r.groups[pgid] = true
	r.writeGroups()
}

func (r *runner) dropGroup(pgid int) {
	delete(r.groups, pgid)
	r.writeGroups()
}

func (r *runner) writeGroups() {
	path := r.pgidPath()
	if len(r.groups) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("cannot remove process group record", "path", path, "err", err)
		}
		return
	}
	var b strings.Builder
	for _, g := range slices.Sorted(maps.Keys(r.groups)) {
		fmt.Fprintf(&b, "%d %s\n", g, r.s.bootID)
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(b.String()), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		r.log.Warn("cannot write process group record; a nucleus crash could leave this component's processes running", "path", path, "err", err)
	}
}

// killAllGroups terminates every process of the component: its cgroup,
// then every process group.
func (r *runner) killAllGroups() {
	r.killCgroup()
	if len(r.groups) == 0 {
		return
	}
	pgids := slices.Sorted(maps.Keys(r.groups))
	if err := terminateGroups(pgids, r.s.opts.StopGrace, true); err != nil {
		r.log.Error("component processes did not exit", "err", err)
	}
	for _, g := range pgids {
		r.dropGroup(g)
	}
}

// killLeftovers terminates the process groups recorded in StateDir by a
// previous supervisor that did not stop cleanly (crash, kill -9), then
// removes the records.
func (s *Supervisor) killLeftovers() {
	paths, _ := filepath.Glob(filepath.Join(s.opts.StateDir, "*.pgid"))
	var pgids []int
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) != 2 || f[1] != s.bootID {
				continue // another boot: the group died with it
			}
			if g, err := strconv.Atoi(f[0]); err == nil && g > 1 {
				pgids = append(pgids, g)
			}
		}
	}
	if len(pgids) > 0 {
		s.log.Warn("terminating processes left by a previous nucleus run", "pgids", pgids)
		if err := terminateGroups(pgids, s.opts.StopGrace, false); err != nil {
			s.log.Error("leftover component processes did not exit", "err", err)
		}
	}
	for _, path := range paths {
		_ = os.Remove(path)
	}
}
