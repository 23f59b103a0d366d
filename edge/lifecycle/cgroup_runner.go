package lifecycle

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// ErrNotPausable is returned by Pause and Resume when the component cannot
// be paused: it is not RUNNING, or the nucleus has no cgroups.
var ErrNotPausable = errors.New("lifecycle: component cannot be paused")

// openCgroups opens the nucleus's cgroup subtree and ends the component
// cgroups a previous nucleus left (it crashed or was killed), before any
// component starts. Without cgroups it logs why, once, and the supervisor
// keeps process groups only.
func (s *Supervisor) openCgroups() {
	t, err := openCgroupTree(s.opts.StateDir)
	if err != nil {
		s.log.Warn("component cgroups are off: stop, resource limits and pause reach only each step's process group", "reason", err.Error())
		return
	}
	s.cgroups = t
	for _, name := range t.leftovers() {
		cg := t.component(name)
		killed, err := cg.kill()
		if err != nil {
			s.log.Error("processes left by a previous nucleus run did not exit", "component", name, "err", err)
		} else if len(killed) > 0 {
			s.log.Warn("ended processes left by a previous nucleus run", "component", name, "pids", killed)
		}
		reapPids(killed, nil)
		if err := cg.remove(); err != nil {
			s.log.Warn("cannot remove a cgroup left by a previous nucleus run", "err", err)
		}
	}
}

// enterCgroup arranges for cmd to start inside the component's cgroup,
// creating it with the component's limits on first use. started is called
// with the pid once cmd started, or 0 when it failed to.
func (r *runner) enterCgroup(cmd *exec.Cmd) (started func(pid int) error, err error) {
	if r.cg == nil {
		return func(int) error { return nil }, nil
	}
	if !r.cgMade {
		if err := r.cg.create(r.limits()); err != nil {
			return nil, fmt.Errorf("component %s: %w", r.comp.Name, err)
		}
		r.cgMade = true
	}
	return r.cg.enter(cmd)
}

// killCgroup ends every process of the component, wherever it moved in the
// process tree: SIGTERM to all, StopGrace for them to exit, then SIGKILL to
// whatever is left (a paused component is thawed first, or SIGTERM could
// not be handled).
func (r *runner) killCgroup() {
	if !r.cgMade {
		return
	}
	r.resumeIfPaused()
	pids := r.cg.signal(syscall.SIGTERM)
	if len(pids) == 0 {
		return
	}
	deadline := time.Now().Add(r.s.opts.StopGrace)
	for len(r.cg.pids()) > 0 && time.Now().Before(deadline) {
		reapPids(pids, r.groups)
		time.Sleep(groupPollInterval)
	}
	killed, err := r.cg.kill()
	if err != nil {
		r.log.Error("component processes did not exit", "err", err)
	}
	reapPids(append(pids, killed...), r.groups)
}

// resumeIfPaused thaws a paused component that is about to stop: a frozen
// process cannot handle SIGTERM, and a Shutdown step would start frozen.
func (r *runner) resumeIfPaused() {
	if !r.cgMade {
		return
	}
	if r.cg.frozen() {
		if err := r.cg.setFrozen(false); err != nil {
			r.log.Warn("cannot resume the paused component before stopping it", "err", err)
		}
	}
	r.setPaused(false)
}

// removeCgroup deletes the component's cgroup once nothing of it runs.
func (r *runner) removeCgroup() {
	if !r.cgMade {
		return
	}
	if err := r.cg.remove(); err != nil {
		r.log.Warn("cannot remove the component cgroup", "err", err)
	}
	r.cgMade = false
}

// limits are the component's limits, Options.DefaultLimits filling the
// fields it leaves zero.
func (r *runner) limits() ResourceLimits { return r.comp.Limits.or(r.s.opts.DefaultLimits) }

// oomNote explains a failure the memory limit caused, "" otherwise.
func (r *runner) oomNote() string {
	if !r.cgMade {
		return ""
	}
	n := r.cg.oomKills()
	if n <= r.oomSeen {
		return ""
	}
	r.oomSeen = n
	return "; the kernel killed a process of the component for exceeding its memory limit of " +
		strconv.FormatInt(r.limits().MemoryKB, 10) + " KB (runWith systemResourceLimits memory): raise the limit or reduce its memory use"
}

func (r *runner) setPaused(p bool) {
	r.s.mu.Lock()
	r.status.Paused = p
	r.s.mu.Unlock()
}

// Pause freezes every process of the named RUNNING component (Greengrass
// PauseComponent): they keep their memory and open files but get no CPU
// until Resume. Stopping or removing a paused component resumes it first.
func (s *Supervisor) Pause(name string) error { return s.freeze(name, true) }

// Resume thaws a component Pause froze (Greengrass ResumeComponent).
func (s *Supervisor) Resume(name string) error { return s.freeze(name, false) }

func (s *Supervisor) freeze(name string, frozen bool) error {
	s.mu.Lock()
	r := s.runners[name]
	closed := s.closed
	known := r != nil && !r.removed
	var st Status
	if known {
		st = r.status
	}
	s.mu.Unlock()
	verb := map[bool]string{true: "pause", false: "resume"}[frozen]
	switch {
	case closed:
		return ErrShutdown
	case !known:
		return fmt.Errorf("%w: %s is not in the current set; deploy it first", ErrUnknownComponent, name)
	case s.cgroups == nil:
		return fmt.Errorf("%w: the nucleus has no cgroups to %s %s with; run it as root on a Linux with cgroups", ErrNotPausable, verb, name)
	case st.State != StateRunning || r.cg == nil:
		return fmt.Errorf("%w: component %s is %s; only a RUNNING component can be paused or resumed", ErrNotPausable, name, st.State)
	case st.Paused == frozen:
		return nil
	}
	if err := r.cg.setFrozen(frozen); err != nil {
		if frozen {
			_ = r.cg.setFrozen(false) // not left half-frozen
		}
		return fmt.Errorf("lifecycle: cannot %s component %s: %w", verb, name, err)
	}
	s.mu.Lock()
	r.status.Paused = frozen
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Info("component "+map[bool]string{true: "paused", false: "resumed"}[frozen], "component", name)
	return nil
}

// cgroupPids lists the processes in the named component's cgroup, for
// tests; nil without cgroups.
func (s *Supervisor) cgroupPids(name string) []int {
	s.mu.Lock()
	r := s.runners[name]
	s.mu.Unlock()
	if r == nil || r.cg == nil {
		return nil
	}
	return slices.Clone(r.cg.pids())
}

// joinedCgroup completes enterCgroup after cmd.Start: it lets the step run
// inside its cgroup, or kills a step that could not be placed (it has run
// nothing yet).
func (r *runner) joinedCgroup(cmd *exec.Cmd, started func(int) error, startErr error) error {
	if startErr != nil {
		return started(0)
	}
	if err := started(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	return nil
}
