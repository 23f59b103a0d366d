package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Supervisor runs a set of components. Create it with New, hand it the
// desired set with Apply, stop everything with Shutdown.
type Supervisor struct {
	opts   Options
	log    *slog.Logger
	isRoot bool
	runAs  *identity     // parsed Options.RunAs, nil when empty
	uids   *uidAllocator // per-component uids, nil unless Options.ComponentUIDs and root
	bootID string
	// cgroups is the nucleus's cgroup subtree; nil when cgroups are off
	// (not root, no usable hierarchy) and process groups are all there is.
	cgroups *cgroupTree
	// poller waits for the components' output pipes and exits; nil where
	// there is none (then each has a goroutine).
	poller      *poller
	pollerClose sync.Once

	logFiles map[string]*lumberjack.Logger // by component name; guarded by mu

	mu      sync.Mutex
	runners map[string]*runner   // the current set, by name
	all     map[*runner]struct{} // every live runner, including replaced and removed ones still stopping
	changed chan struct{}        // closed and replaced on every state change
	closed  bool
}

// New validates opts, creates the folders, makes the nucleus the subreaper
// of its components, terminates process groups left by a previous
// supervisor that crashed (recorded in StateDir) and ends the processes in
// its component cgroups. It starts nothing: call Apply.
func New(opts Options) (*Supervisor, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		opts:     opts,
		log:      opts.Logger,
		isRoot:   os.Geteuid() == 0,
		bootID:   bootID(),
		runners:  map[string]*runner{},
		all:      map[*runner]struct{}{},
		changed:  make(chan struct{}),
		logFiles: map[string]*lumberjack.Logger{},
	}
	if opts.RunAs != "" {
		id, err := ParseRunAs(opts.RunAs)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: Options.RunAs: %w", err)
		}
		s.runAs = id
		if !s.isRoot {
			s.log.Warn("Options.RunAs is ignored: the nucleus is not root and cannot switch users", "runAs", opts.RunAs)
		}
	}
	// WorkDir is traversable but not listable by component users (0711):
	// each reaches its own folder inside (0700, its own) and cannot learn
	// the others' names. Logs and state are the nucleus's alone. Modes are
	// set again on every start, for folders an older nucleus created.
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{opts.WorkDir, 0o711}, {opts.LogDir, 0o700}, {opts.StateDir, 0o700}} {
		err := os.MkdirAll(d.path, d.mode)
		if err == nil {
			err = os.Chmod(d.path, d.mode)
		}
		if err != nil {
			return nil, fmt.Errorf("lifecycle: cannot create %s: %w; check the nucleus root folder's permissions", d.path, err)
		}
	}
	if opts.ComponentUIDs {
		if !s.isRoot {
			s.log.Warn("Options.ComponentUIDs is ignored: the nucleus is not root and cannot switch users")
		} else if s.uids, err = loadUIDs(opts.StateDir); err != nil {
			return nil, fmt.Errorf("lifecycle: %w", err)
		}
	}
	if s.isRoot {
		var ids []*identity
		if s.runAs != nil {
			ids = append(ids, s.runAs)
		}
		if s.uids != nil {
			// A component uid is in no group: the other bits decide for it.
			ids = append(ids, &identity{uid: ComponentUIDFirst, gid: ComponentUIDFirst})
		}
		for _, id := range ids {
			if err := checkReachable(opts.WorkDir, id); err != nil {
				return nil, err
			}
		}
	}
	if err := becomeSubreaper(); err != nil {
		s.log.Warn("cannot become child subreaper; processes components leave behind are reaped by init", "err", err)
	}
	s.killLeftovers()
	s.openCgroups()
	s.poller = newPoller()
	return s, nil
}

// identity is a user steps run as.
type identity struct {
	cred     syscall.Credential
	uid, gid int
}

// ParseRunAs resolves "user[:group]" (names or numeric ids) to the user and
// group steps run as; an error names what is missing.
func ParseRunAs(spec string) (*identity, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("run-as %q: user %q not found; create the user or fix runWith posixUser", spec, name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if hasGroup {
		g, err := user.LookupGroup(group)
		if err != nil {
			if _, nerr := strconv.Atoi(group); nerr == nil {
				g, err = user.LookupGroupId(group)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("run-as %q: group %q not found; create the group or fix runWith posixUser", spec, group)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	groups := []uint32{uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.Atoi(id); err == nil && !slices.Contains(groups, uint32(n)) {
				groups = append(groups, uint32(n))
			}
		}
	}
	return &identity{cred: syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, uid: uid, gid: gid}, nil
}

// Apply makes components the desired set: it adds new components, replaces
// changed ones (the old version stops before the new one starts), removes
// missing ones (stopped dependents first, then each one's Uninstall step;
// WaitRemoved waits for that) and gives BROKEN ones that are
// listed again a fresh start (a new deployment is what leaves BROKEN).
// Unchanged components are left alone. Apply does not block; it returns an
// error, and changes nothing, only for invalid input.
func (s *Supervisor) Apply(components []Component) error {
	cs := make([]Component, len(components))
	for i, c := range components {
		cs[i] = c.clone()
	}
	if err := validateSet(cs); err != nil {
		return err
	}
	ids := map[string]*identity{}
	for _, c := range cs {
		var runAs *identity
		if c.RunAs != "" {
			id, err := ParseRunAs(c.RunAs)
			if err != nil {
				return fmt.Errorf("%w: component %s: %v", ErrInvalidComponent, c.Name, err)
			}
			runAs = id
		}
		id, err := s.componentIdentity(&c, runAs)
		if err != nil {
			return err
		}
		ids[c.Name] = id
	}
	var toStop, toStart []*runner
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrShutdown
	}
	want := map[string]bool{}
	for _, c := range cs {
		want[c.Name] = true
		old := s.runners[c.Name]
		if old != nil && !old.removed && old.comp.sameAs(&c) && old.status.State != StateBroken {
			continue
		}
		if old != nil {
			old.removed = true
			toStop = append(toStop, old)
		}
		r := s.newRunnerLocked(c, old)
		r.runAs = ids[c.Name]
		s.runners[c.Name] = r
		toStart = append(toStart, r)
	}
	for name, r := range s.runners {
		if !want[name] && !r.removed {
			r.removed, r.uninstall = true, true
			toStop = append(toStop, r)
		}
	}
	s.broadcastLocked()
	s.mu.Unlock()

	s.removeInOrder(toStop)
	for _, r := range toStart {
		go r.run()
	}
	return nil
}

// newRunnerLocked creates the runner of c; prev, when set, is the runner of
// the same name that must end first.
func (s *Supervisor) newRunnerLocked(c Component, prev *runner) *runner {
	r := &runner{
		s:       s,
		comp:    c,
		log:     s.log.With("component", c.Name, "version", c.Version),
		workDir: filepath.Join(s.opts.WorkDir, c.Name),
		logPath: filepath.Join(s.opts.LogDir, c.Name+".log"),
		prev:    prev,
		tracker: newRestartTracker(s.opts.ErrorResetTime),
		groups:  map[int]bool{},
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	if s.cgroups != nil {
		r.cg = s.cgroups.component(c.Name)
	}
	r.out = &componentLog{lj: s.logFileLocked(c.Name), poller: s.poller}
	r.status = Status{Name: c.Name, Version: c.Version, State: StateNew, Reason: "added",
		WorkDir: r.workDir, LogFile: r.logPath}
	s.all[r] = struct{}{}
	return r
}

// removeInOrder asks rs to stop and end, each one only after those of rs
// that depend on it (HARD) have ended: reverse dependency order.
func (s *Supervisor) removeInOrder(rs []*runner) {
	for _, r := range rs {
		var dependents []*runner
		for _, d := range rs {
			if d != r && slices.Contains(d.comp.hardDeps(), r.comp.Name) {
				dependents = append(dependents, d)
			}
		}
		go func() {
			for _, d := range dependents {
				<-d.done
			}
			r.request(intentRemove)
		}()
	}
}

// runnerDone forgets an ended runner.
func (s *Supervisor) runnerDone(r *runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, r)
	if s.runners[r.comp.Name] == r {
		delete(s.runners, r.comp.Name)
	}
	s.broadcastLocked()
}

func (s *Supervisor) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// changedChan returns a channel closed at the next state change.
func (s *Supervisor) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// hardDepsWaiting names the first HARD dependency of r that is not RUNNING
// or FINISHED, with its state, or returns "" when all are ready.
func (s *Supervisor) hardDepsWaiting(r *runner) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range r.comp.hardDeps() {
		d := s.runners[name]
		if d == nil {
			return "HARD dependency " + name + " (not deployed)"
		}
		if !d.status.State.ready() {
			return "HARD dependency " + name + " (" + string(d.status.State) + ")"
		}
	}
	return ""
}

// WaitRemoved waits until every component Apply removed or replaced has
// ended — stopped, and its Uninstall step run — or ctx ends. What a removed
// component's Uninstall step may still need (its artifacts) can go after.
func (s *Supervisor) WaitRemoved(ctx context.Context) error {
	for {
		s.mu.Lock()
		var left []string
		for r := range s.all {
			if r.removed {
				left = append(left, r.comp.Name+" "+r.comp.Version)
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			slices.Sort(left)
			return fmt.Errorf("lifecycle: still removing %s: %w", strings.Join(left, ", "), ctx.Err())
		}
	}
}

// Status returns the status of the named component.
func (s *Supervisor) Status(name string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runners[name]
	if r == nil {
		return Status{}, false
	}
	return r.statusLocked(), true
}

// List returns the status of every component, sorted by name.
func (s *Supervisor) List() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.runners))
	for _, name := range slices.Sorted(maps.Keys(s.runners)) {
		out = append(out, s.runners[name].statusLocked())
	}
	return out
}

// Restart asks the named component to restart: a running one goes through
// STOPPING (Shutdown, terminate) and starts again; a FINISHED one starts
// again; a BROKEN one gets a fresh start from NEW with its error counts
// cleared. It does not block; use WaitFor.
func (s *Supervisor) Restart(name string) error { return s.request(name, intentRestart) }

// Stop asks the named component to stop and stay stopped: like greengrass-cli
// `component stop`, it goes through STOPPING (Shutdown, terminate) to
// FINISHED, and stays there until Restart or the next Apply that changes it.
// Stopping a BROKEN component changes nothing. It does not block; use
// WaitFor.
func (s *Supervisor) Stop(name string) error { return s.request(name, intentStop) }

// ReportState records a state the component reports about itself
// (Greengrass's UpdateState): RUNNING moves a STARTING component to RUNNING
// while its Startup processes keep running; ERRORED fails a STARTING or
// RUNNING component, which then recovers or becomes BROKEN like after any
// error. A report in any other state is refused with ErrInvalidReport.
func (s *Supervisor) ReportState(name string, st State) error {
	if st != StateRunning && st != StateErrored {
		return fmt.Errorf("%w: %q; report RUNNING or ERRORED", ErrInvalidReport, st)
	}
	s.mu.Lock()
	r := s.runners[name]
	closed := s.closed
	known := r != nil && !r.removed
	var cur State
	if known {
		cur = r.status.State
		if cur == StateStarting || cur == StateRunning {
			r.report = st
		}
	}
	s.mu.Unlock()
	switch {
	case closed:
		return ErrShutdown
	case !known:
		return fmt.Errorf("%w: %s is not in the current set; deploy it first", ErrUnknownComponent, name)
	case cur != StateStarting && cur != StateRunning:
		return fmt.Errorf("%w: component %s is %s; a component reports its state while STARTING or RUNNING", ErrInvalidReport, name, cur)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

func (s *Supervisor) request(name string, i intent) error {
	s.mu.Lock()
	r := s.runners[name]
	closed := s.closed
	known := r != nil && !r.removed
	s.mu.Unlock()
	switch {
	case closed:
		return ErrShutdown
	case !known:
		return fmt.Errorf("%w: %s is not in the current set; deploy it first", ErrUnknownComponent, name)
	}
	r.request(i)
	return nil
}

// Shutdown stops every component in reverse dependency order and returns
// when no component process is left, or with ctx's error (the stops go on).
func (s *Supervisor) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	var rs []*runner
	if !s.closed {
		s.closed = true
		for _, r := range s.runners {
			if !r.removed {
				r.removed = true
				rs = append(rs, r)
			}
		}
	}
	all := slices.Collect(maps.Keys(s.all))
	s.mu.Unlock()
	s.removeInOrder(rs)
	for _, r := range all {
		select {
		case <-r.done:
		case <-ctx.Done():
			var left []string
			for _, r := range all {
				select {
				case <-r.done:
				default:
					left = append(left, r.comp.Name)
				}
			}
			slices.Sort(left)
			return fmt.Errorf("lifecycle: shutdown: still stopping %s: %w", strings.Join(left, ", "), ctx.Err())
		}
	}
	if s.cgroups != nil {
		s.cgroups.remove()
	}
	if s.poller != nil {
		s.pollerClose.Do(s.poller.close) // every runner has ended: nothing of theirs is watched
	}
	return nil
}

// WaitFor waits until component name is in one of states and returns its
// status, or returns an error when ctx ends first or the component is not
// (or no longer) supervised.
func (s *Supervisor) WaitFor(ctx context.Context, name string, states ...State) (Status, error) {
	st, err := s.WaitUntil(ctx, name, func(st Status) bool { return slices.Contains(states, st.State) })
	if err != nil && ctx.Err() != nil {
		return st, fmt.Errorf("lifecycle: component %s is %s (%s), not %v: %w", name, st.State, st.Reason, states, ctx.Err())
	}
	return st, err
}

// WaitUntil waits until cond holds for component name's status, re-checking
// at every state change of the supervisor.
func (s *Supervisor) WaitUntil(ctx context.Context, name string, cond func(Status) bool) (Status, error) {
	for {
		s.mu.Lock()
		r := s.runners[name]
		if r == nil {
			s.mu.Unlock()
			return Status{}, fmt.Errorf("%w: %s", ErrUnknownComponent, name)
		}
		st := r.statusLocked()
		ch := s.changed
		s.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("lifecycle: component %s is %s (%s): %w", name, st.State, st.Reason, ctx.Err())
		}
	}
}
