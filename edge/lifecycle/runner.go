package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// intent is a request made to a component through the API.
type intent int

const (
	intentNone    intent = iota
	intentRestart        // Restart: stop if running, start again
	intentStop           // Stop: stop and stay FINISHED
	intentRemove         // Apply without it, replacement or Shutdown: stop and exit
)

// phase is one step of a runner's state machine; it returns the next
// phase, nil to end the runner.
type phase func() phase

// runner drives one component (one version of it) through its lifecycle, in
// its own goroutine. Fields without a note are owned by that goroutine.
type runner struct {
	s       *Supervisor
	comp    Component
	log     *slog.Logger
	workDir string
	logPath string
	out     *componentLog
	prev    *runner // previous version of the same name, stopped before this one starts
	tracker *restartTracker
	runAs   *identity    // parsed comp.RunAs, nil when empty
	groups  map[int]bool // live process groups, mirrored in StateDir/<name>.pgid
	main    *proc        // the Run process, watched for its exit
	// cg is the component's cgroup, nil when cgroups are off; cgMade says
	// it exists; oomSeen is its OOM kill count already reported.
	cg      *cgroup
	cgMade  bool
	oomSeen int
	// isInstalled: Install completed for this runner; a restart goes back to
	// NEW until it has.
	isInstalled bool
	privWarn    sync.Once
	// session holds Options.Sessions' variables for the current start
	// attempt; sessions counts the attempts, and needSession is set when
	// the last attempt ended (a stop, failure or restart).
	session     map[string]string
	sessions    int
	needSession bool

	done chan struct{} // closed when the runner has ended and nothing of it runs
	wake chan struct{} // capacity 1: a request is pending

	// Guarded by s.mu.
	status  Status
	pending intent
	report  State // a state the component reported (ReportState), "" when none
	removed bool  // Apply scheduled its removal
	// uninstall: Apply removed the component from the set (not a
	// replacement, not Shutdown), so its Uninstall step runs at the end.
	uninstall bool
}

// run is the runner goroutine.
func (r *runner) run() {
	defer r.exit()
	reason := "added"
	if r.prev != nil {
		reason = "replaces version " + r.prev.comp.Version
	}
	r.emit("", StateNew, reason)
	if r.prev != nil {
		// Removed meanwhile or not, this runner ends only after the one it
		// replaces: a runner that replaces this one waits for this one's
		// done alone, and the versions of a name share its work folder and
		// cgroup, which the old one's stop kills and removes.
		r.setReason("waiting for version " + r.prev.comp.Version + " to stop")
		<-r.prev.done
		if r.peekIntent() == intentRemove {
			return
		}
	}
	for next := r.doNew; next != nil; {
		next = next()
	}
	r.runUninstall()
}

// runUninstall runs the Uninstall step of a component Apply removed, once
// its processes have stopped: with the component's environment, as its
// user (RequiresPrivilege honoured), within its Timeout (default 120 s, as
// Greengrass). As in Greengrass, an Uninstall that fails or times out is
// logged and the removal goes on: a component cannot refuse to go.
func (r *runner) runUninstall() {
	r.s.mu.Lock()
	uninstall := r.uninstall
	r.s.mu.Unlock()
	st := r.comp.Lifecycle.Uninstall
	if !uninstall || st == nil {
		return
	}
	r.killAllGroups() // nothing of the component runs beside it
	r.setReason("running Uninstall")
	if err := r.prepareWorkDir(); err != nil {
		r.log.Warn("Uninstall step not run; removing the component anyway", "err", err)
		return
	}
	switch res := r.runStep(stepUninstall, st, false, nil); {
	case res.err != nil:
		r.log.Warn("Uninstall step failed; removing the component anyway", "err", res.err)
	case !res.skipped:
		r.log.Info("Uninstall step completed")
	}
}

// doNew runs Bootstrap (once per version) and Install in state NEW.
func (r *runner) doNew() phase {
	if next, handled := r.handleIdleIntent(); handled {
		return next
	}
	stopOnly := func() string {
		if i := r.peekIntent(); i == intentStop || i == intentRemove {
			return "stop requested"
		}
		return ""
	}
	r.beginAttempt()
	if err := r.prepareWorkDir(); err != nil {
		return r.fail(StateNew, err.Error())
	}
	if res := r.bootstrap(stopOnly); res.interrupted != "" {
		return r.doNew
	} else if res.err != nil {
		return r.fail(StateNew, res.err.Error())
	}
	if st := r.comp.Lifecycle.Install; st != nil {
		r.setReason("running Install")
		res := r.runStep(stepInstall, st, false, stopOnly)
		switch {
		case res.interrupted != "":
			return r.doNew
		case res.err != nil:
			return r.fail(StateNew, res.err.Error())
		case res.skipped:
			return r.installed("Install skipped")
		}
		return r.installed("Install completed")
	}
	return r.installed("no Install step")
}

func (r *runner) installed(reason string) phase {
	r.isInstalled = true
	r.setState(StateInstalled, reason)
	return r.doStart
}

// prepareWorkDir creates WorkDir/<name> (0700), owned with what is in it
// by the component's user when the steps run as another user than the
// nucleus, and gives the component's group its artifact folders.
func (r *runner) prepareWorkDir() error {
	if err := os.MkdirAll(r.workDir, 0o700); err != nil {
		return fmt.Errorf("component %s: cannot create work folder %s: %w; check the permissions of Options.WorkDir", r.comp.Name, r.workDir, err)
	}
	if err := os.Chmod(r.workDir, 0o700); err != nil {
		return fmt.Errorf("component %s: work folder %s: %w", r.comp.Name, r.workDir, err)
	}
	id := r.identity()
	if !r.s.isRoot || id == nil {
		return nil
	}
	if err := giveTree(r.workDir, id.uid, id.gid); err != nil {
		return fmt.Errorf("component %s: cannot give work folder %s to uid %d: %w", r.comp.Name, r.workDir, id.uid, err)
	}
	for _, dir := range r.comp.Artifacts {
		if err := giveGroup(dir, id.gid); err != nil {
			return fmt.Errorf("component %s: cannot give artifact folder %s to gid %d: %w", r.comp.Name, dir, id.gid, err)
		}
	}
	return nil
}

// beginAttempt fetches the session variables when the previous start
// attempt ended (or there was none).
func (r *runner) beginAttempt() {
	if r.sessions > 0 && !r.needSession {
		return
	}
	if ss := r.s.opts.Sessions; ss != nil {
		r.session = ss.SessionEnv(r.comp.Name, r.sessions > 0)
	}
	r.takeReport() // a report made in an earlier attempt does not carry over
	r.sessions++
	r.needSession = false
}

// handleIdleIntent handles Stop and removal for a component with no running
// process (NEW, INSTALLED, FINISHED).
func (r *runner) handleIdleIntent() (phase, bool) {
	switch r.peekIntent() {
	case intentRemove:
		return nil, true
	case intentStop:
		r.takeIntent()
		r.setState(StateFinished, "stopped by request")
		return r.doFinished, true
	}
	return nil, false
}

// doStart waits for the HARD dependencies, then runs Startup or Run.
func (r *runner) doStart() phase {
	for {
		if next, handled := r.handleIdleIntent(); handled {
			return next
		}
		if r.peekIntent() == intentRestart {
			r.takeIntent() // about to start anyway
		}
		changed := r.s.changedChan()
		waitingFor := r.s.hardDepsWaiting(r)
		if waitingFor == "" {
			break
		}
		r.setReason("waiting for " + waitingFor)
		select {
		case <-changed:
		case <-r.wake:
		}
	}
	r.beginAttempt()
	lc := &r.comp.Lifecycle
	if lc.Startup != nil {
		r.setState(StateStarting, "running Startup")
		r.takeReport() // a report belongs to the attempt it was made in
		res := r.runStep(stepStartup, lc.Startup, true, r.startingInterrupt)
		switch {
		case res.interrupted == reportedRunning:
			// Startup leaves a service behind and said it is up: its
			// processes stay, as when Startup exits 0.
			r.setState(StateRunning, "reported RUNNING through UpdateState")
			return r.doRunning
		case res.interrupted == reportedErrored:
			return r.fail(StateStarting, "component reported ERRORED through UpdateState")
		case res.interrupted != "":
			return r.stopFor(res.interrupted)
		case res.err != nil:
			return r.fail(StateStarting, res.err.Error())
		case !res.skipped:
			r.setPID(0)
			r.setState(StateRunning, "Startup exited 0")
			return r.doRunning
		}
	}
	if lc.Run != nil {
		if why := r.skipReason(lc.Run); why != "" {
			r.log.Info("step skipped", "step", stepRun, "reason", why)
		} else {
			p, err := r.start(stepRun, lc.Run)
			if err != nil {
				r.setState(StateRunning, "starting Run")
				return r.fail(StateRunning, err.Error())
			}
			r.main = p
			r.setPID(p.pid)
			r.setState(StateRunning, fmt.Sprintf("Run started (pid %d)", p.pid))
			return r.doRunning
		}
	}
	r.setState(StateFinished, "no Startup or Run step to run")
	return r.doFinished
}

// runningInterrupt says why a STARTING or RUNNING component must stop: a
// request, or a HARD dependency that is no longer RUNNING or FINISHED.
func (r *runner) runningInterrupt() string {
	switch r.peekIntent() {
	case intentRemove:
		return "removed from the component set"
	case intentStop:
		return "stop requested"
	case intentRestart:
		return "restart requested"
	}
	if why := r.s.hardDepsWaiting(r); why != "" {
		return why
	}
	return ""
}

// doRunning waits while RUNNING for the Run process to exit, a request or a
// HARD dependency to go away.
func (r *runner) doRunning() phase {
	var exited <-chan struct{}
	var timeout <-chan time.Time
	if r.main != nil {
		exited = r.main.exited
		if d := r.s.opts.timeout(stepRun, r.comp.Lifecycle.Run); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
	}
	for {
		changed := r.s.changedChan()
		if why := r.runningInterrupt(); why != "" {
			return r.stopFor(why)
		}
		if r.takeReport() == StateErrored {
			return r.fail(StateRunning, "component reported ERRORED through UpdateState")
		}
		select {
		case <-exited:
			p := r.main
			r.main = nil
			r.endProc(p) // whatever Run left in its group goes with it
			if p.err == nil {
				r.setState(StateFinished, "Run exited 0")
				return r.doFinished
			}
			return r.fail(StateRunning, fmt.Sprintf("component %s step Run %s; see %s", r.comp.Name, p.exitDescription(), r.logPath))
		case <-timeout:
			d := r.s.opts.timeout(stepRun, r.comp.Lifecycle.Run)
			return r.fail(StateRunning, fmt.Sprintf("component %s step Run %s after %s; raise the step's Timeout or fix the script", r.comp.Name, errStepTimeout, d))
		case <-changed:
		case <-r.wake:
		}
	}
}

// stopFor handles the reason from runningInterrupt: STOPPING, then
// FINISHED (stop, removal) or INSTALLED and start again (restart, lost
// dependency).
func (r *runner) stopFor(why string) phase {
	r.setState(StateStopping, why)
	r.stopProcesses()
	r.needSession = true
	r.takeReport()
	switch r.takeIntent() {
	case intentRemove:
		r.setState(StateFinished, "removed from the component set")
		return nil
	case intentStop:
		r.setState(StateFinished, "stopped by request")
		return r.doFinished
	}
	r.countRestart()
	r.setState(StateInstalled, "restarting: "+why)
	return r.doStart
}

// stopProcesses runs Shutdown, then SIGTERM/SIGKILL to every process group
// of the component, and waits for all of them.
func (r *runner) stopProcesses() {
	r.resumeIfPaused() // or the Shutdown step would start frozen
	if st := r.comp.Lifecycle.Shutdown; st != nil {
		if res := r.runStep(stepShutdown, st, false, nil); res.err != nil {
			r.log.Warn("Shutdown step failed; terminating the processes anyway", "err", res.err)
		}
	}
	r.killAllGroups()
	if r.main != nil {
		<-r.main.exited
		r.main = nil
	}
	r.setPID(0)
}

// doFinished waits in FINISHED (Run exited 0, nothing to run, or stopped)
// for a restart or the removal. HARD dependency changes do not restart a
// FINISHED component (Greengrass restarts only STARTING/RUNNING ones).
func (r *runner) doFinished() phase {
	r.needSession = true
	for {
		switch r.takeIntent() {
		case intentRemove:
			return nil
		case intentRestart:
			r.countRestart()
			if !r.isInstalled {
				r.setState(StateNew, "restart requested")
				return r.doNew
			}
			r.setState(StateInstalled, "restart requested")
			return r.doStart
		}
		<-r.wake
	}
}

// fail moves the component to ERRORED with cause; the restart tracker
// decides between Recover-and-restart and BROKEN.
func (r *runner) fail(from State, cause string) phase {
	r.needSession = true
	cause += r.oomNote()
	r.setState(StateErrored, cause)
	d := r.tracker.errored(from, cause, time.Now())
	if d.Broken {
		r.killAllGroups()
		r.main = nil
		r.setPID(0)
		r.setState(StateBroken, d.Reason)
		return r.doBroken
	}
	r.log.Info("restart decision", "reason", d.Reason)
	if st := r.comp.Lifecycle.Recover; st != nil {
		r.setReason("running Recover: " + d.Reason)
		res := r.runStep(stepRecover, st, false, func() string {
			if i := r.peekIntent(); i == intentStop || i == intentRemove {
				return "stop requested"
			}
			return ""
		})
		if res.err != nil {
			r.log.Warn("Recover step failed; restarting anyway", "err", res.err)
		}
	}
	if from == StateNew {
		r.countRestart()
		r.setState(StateNew, "retrying Bootstrap and Install: "+d.Reason)
		return r.doNew
	}
	return r.stopFor(d.Reason)
}

// doBroken waits in BROKEN for a manual restart (fresh start) or removal.
func (r *runner) doBroken() phase {
	for {
		switch r.takeIntent() {
		case intentRemove:
			return nil
		case intentRestart:
			r.tracker.reset()
			r.countRestart()
			r.setState(StateNew, "restarted by request after BROKEN")
			return r.doNew
		}
		<-r.wake
	}
}

// exit ends the runner: nothing of the component may outlive it.
func (r *runner) exit() {
	if r.main != nil {
		r.killAllGroups()
		<-r.main.exited
		r.main = nil
	}
	r.killAllGroups()
	r.removeCgroup()
	r.out.close(logDrainWait)
	if st := r.snapshot().State; st != StateFinished && st != StateBroken {
		r.setState(StateFinished, "removed from the component set")
	}
	r.s.runnerDone(r)
	close(r.done)
}

// request records an API request and wakes the runner. A removal is never
// overridden by a later request.
func (r *runner) request(i intent) {
	r.s.mu.Lock()
	if r.pending != intentRemove {
		r.pending = i
	}
	r.s.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) peekIntent() intent {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.pending
}

// Interrupt reasons of a Startup step cut short by the component's own
// report (ReportState).
const (
	reportedRunning = "reported RUNNING"
	reportedErrored = "reported ERRORED"
)

// startingInterrupt is runningInterrupt for STARTING, plus the component's
// own report: RUNNING ends the wait for Startup, ERRORED fails it.
func (r *runner) startingInterrupt() string {
	if why := r.runningInterrupt(); why != "" {
		return why
	}
	switch r.takeReport() {
	case StateRunning:
		return reportedRunning
	case StateErrored:
		return reportedErrored
	}
	return ""
}

// takeReport returns the state the component reported and clears it.
func (r *runner) takeReport() State {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st := r.report
	r.report = ""
	return st
}

// takeIntent returns the pending request and clears it (a removal stays).
func (r *runner) takeIntent() intent {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	i := r.pending
	if i != intentRemove {
		r.pending = intentNone
	}
	return i
}

// setState records a transition, wakes waiters and reports it.
func (r *runner) setState(to State, reason string) {
	r.s.mu.Lock()
	from := r.status.State
	r.status.State = to
	r.status.Reason = reason
	r.status.Since = time.Now()
	at := r.status.Since
	r.s.broadcastLocked()
	r.s.mu.Unlock()
	r.tracker.transitioned(from, to)
	r.emitAt(from, to, reason, at)
}

func (r *runner) emit(from, to State, reason string) { r.emitAt(from, to, reason, time.Now()) }

func (r *runner) emitAt(from, to State, reason string, at time.Time) {
	lvl := slog.LevelInfo
	if to == StateErrored || to == StateBroken {
		lvl = slog.LevelWarn
	}
	r.log.Log(context.Background(), lvl, "state change", "from", string(from), "to", string(to), "reason", reason)
	if cb := r.s.opts.OnStateChange; cb != nil {
		cb(StateChange{Component: r.comp.Name, Version: r.comp.Version, From: from, To: to, Reason: reason, At: at})
	}
}

// setReason updates the reason without a transition (what it waits for).
func (r *runner) setReason(reason string) {
	r.s.mu.Lock()
	r.status.Reason = reason
	r.s.mu.Unlock()
}

func (r *runner) setPID(pid int) {
	r.s.mu.Lock()
	r.status.PID = pid
	r.s.mu.Unlock()
}

func (r *runner) countRestart() {
	r.s.mu.Lock()
	r.status.Restarts++
	r.s.mu.Unlock()
}

func (r *runner) snapshot() Status {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.statusLocked()
}

func (r *runner) statusLocked() Status {
	st := r.status
	st.Dependencies = append([]Dependency(nil), r.comp.Dependencies...)
	return st
}
