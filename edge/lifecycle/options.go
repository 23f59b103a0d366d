package lifecycle

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Greengrass step timeouts, used for zero fields of Options.DefaultTimeouts.
// They are the Greengrass V2 defaults so that public recipes behave as they
// do on a Greengrass device.
const (
	DefaultBootstrapTimeout = 120 * time.Second
	DefaultInstallTimeout   = 120 * time.Second
	DefaultStartupTimeout   = 120 * time.Second
	DefaultShutdownTimeout  = 15 * time.Second
	DefaultRecoverTimeout   = 60 * time.Second
	DefaultUninstallTimeout = 120 * time.Second
)

const (
	// DefaultErrorResetTime is Greengrass's errorResetTime: errors older
	// than this no longer count towards BROKEN.
	DefaultErrorResetTime = time.Hour

	// DefaultStopGrace is the time between SIGTERM and SIGKILL. Graceful
	// logic belongs in the Shutdown step (15 s of its own); after that a
	// process only needs to flush and exit, and 5 s covers that on an SD
	// card while keeping a deployment or a nucleus stop from being held up
	// by a process that ignores SIGTERM (systemd's 90 s would be).
	DefaultStopGrace = 5 * time.Second

	// DefaultLogMaxSizeMB is the size at which a component log rotates:
	// big enough to hold hours of chatty output, small enough that the
	// bound below fits a 512 MB board with a small root filesystem.
	DefaultLogMaxSizeMB = 10
	// DefaultLogMaxBackups is the number of rotated files kept, bounding
	// a component's logs to (1+3)×10 MB = 40 MB so logs cannot fill the
	// disk (a known Greengrass pain point).
	DefaultLogMaxBackups = 3
)

// Timeouts are per-step default timeouts; a Step.Timeout overrides them. Run
// has no default timeout.
type Timeouts struct {
	Bootstrap, Install, Startup, Shutdown, Recover, Uninstall time.Duration
}

// Options configure a Supervisor.
type Options struct {
	// WorkDir holds the component work folders: each component runs in
	// WorkDir/<name>, created with mode 0700 and owned by the component's
	// user; WorkDir itself is made 0711. Required.
	WorkDir string
	// LogDir receives <name>.log per component. Required.
	LogDir string
	// StateDir holds process-group records (<name>.pgid) and bootstrap
	// markers (<name>.bootstrap); its path names the nucleus's cgroup
	// subtree (see cgroup.go). Required.
	StateDir string
	// Logger receives the supervisor's own logs; default slog.Default().
	// Records carry service=lifecycle and component=<name>.
	Logger *slog.Logger
	// BaseEnv is the environment every step starts from; default
	// os.Environ().
	BaseEnv []string
	// RunAs is "user[:group]" for non-privileged steps when the nucleus
	// runs as root (Greengrass runWith posixUser). Empty: the nucleus user.
	RunAs string
	// ComponentUIDs gives each component its own uid and gid, allocated
	// from ComponentUIDFirst–ComponentUIDLast and kept in StateDir/uids.json
	// so that it stays the same across restarts, when the nucleus runs as
	// root. A component's runWith posixUser still wins. Components then
	// cannot read each other's processes (/proc/<pid>/environ) or files.
	ComponentUIDs bool
	// DefaultLimits apply to the fields a component's Limits leave zero
	// (Greengrass's runWithDefault systemResourceLimits); zero fields here
	// mean no limit.
	DefaultLimits ResourceLimits
	// ErrorResetTime is the window in which three errors from the same
	// state make a component BROKEN; default DefaultErrorResetTime.
	ErrorResetTime time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL; default
	// DefaultStopGrace.
	StopGrace time.Duration
	// DefaultTimeouts: zero fields take the Greengrass defaults.
	DefaultTimeouts Timeouts
	// LogMaxSizeMB and LogMaxBackups bound each component log; defaults
	// DefaultLogMaxSizeMB and DefaultLogMaxBackups.
	LogMaxSizeMB, LogMaxBackups int
	// OnStateChange, when set, is called for every transition, from the
	// goroutine of that component (so calls for one component are
	// ordered) and never while a supervisor lock is held: it may call
	// Status, List, Restart or Stop. A slow callback delays only its
	// component.
	OnStateChange func(StateChange)
	// Sessions, when set, gives each start attempt its session variables
	// (see Sessions).
	Sessions Sessions
}

// Sessions is what the supervisor needs from whoever hands out component
// sessions. SessionEnv is called each time a component begins a start
// attempt (before Bootstrap/Install in NEW, before Startup/Run otherwise)
// whose previous attempt ended: the first time with restart false, after
// every stop, failure or restart with restart true. Its variables are
// added last to every step of that attempt, so a recipe's Setenv cannot
// override them. The nucleus hands out per-component broker credentials
// this way and rotates them on every restart. It is called from the
// component's goroutine, never while a supervisor lock is held.
type Sessions interface {
	SessionEnv(component string, restart bool) map[string]string
}

// withDefaults validates o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	for _, f := range []struct{ name, v string }{{"WorkDir", o.WorkDir}, {"LogDir", o.LogDir}, {"StateDir", o.StateDir}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("lifecycle: Options.%s is empty; set it to a folder under the nucleus root", f.name))
		}
	}
	if o.ErrorResetTime < 0 || o.StopGrace < 0 || o.LogMaxSizeMB < 0 || o.LogMaxBackups < 0 {
		errs = append(errs, errors.New("lifecycle: Options durations and log limits must not be negative"))
	}
	if err := o.DefaultLimits.validate(); err != nil {
		errs = append(errs, fmt.Errorf("lifecycle: Options.DefaultLimits: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("service", "lifecycle")
	if o.BaseEnv == nil {
		o.BaseEnv = os.Environ()
	}
	if o.ErrorResetTime == 0 {
		o.ErrorResetTime = DefaultErrorResetTime
	}
	if o.StopGrace == 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.LogMaxSizeMB == 0 {
		o.LogMaxSizeMB = DefaultLogMaxSizeMB
	}
	if o.LogMaxBackups == 0 {
		o.LogMaxBackups = DefaultLogMaxBackups
	}
	t := &o.DefaultTimeouts
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&t.Bootstrap, DefaultBootstrapTimeout}, {&t.Install, DefaultInstallTimeout},
		{&t.Startup, DefaultStartupTimeout}, {&t.Shutdown, DefaultShutdownTimeout}, {&t.Recover, DefaultRecoverTimeout},
		{&t.Uninstall, DefaultUninstallTimeout}} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	return o, nil
}

// timeout returns the effective timeout of a step; 0 means none.
func (o *Options) timeout(name string, st *Step) time.Duration {
	if st.Timeout > 0 {
		return st.Timeout
	}
	switch name {
	case stepBootstrap:
		return o.DefaultTimeouts.Bootstrap
	case stepInstall:
		return o.DefaultTimeouts.Install
	case stepStartup:
		return o.DefaultTimeouts.Startup
	case stepShutdown:
		return o.DefaultTimeouts.Shutdown
	case stepRecover:
		return o.DefaultTimeouts.Recover
	case stepUninstall:
		return o.DefaultTimeouts.Uninstall
	}
	return 0
}
