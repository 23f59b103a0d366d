package lifecycle

import "time"

// State is the lifecycle state of a component. The values are the Greengrass
// V2 state names, so status reports read the same as on a Greengrass device.
//
//	      Apply, Restart of a BROKEN component
//	                  │
//	                  ▼
//	┌──────────────► NEW
//	│                 │ Bootstrap (once per version), Install
//	│ retry           ▼
//	│ (error     INSTALLED ◄──────────────────┐ restart (request,
//	│  from NEW)      │ HARD deps RUNNING      │ error, HARD
//	│                 │ or FINISHED            │ dependency lost)
//	│        Startup  ├──────────┐ Run         │
//	│                 ▼          │             │
//	│             STARTING       │             │
//	│                 │ exit 0   │             │
//	│                 ▼          ▼             │
//	│              RUNNING ──────────────► STOPPING ──► FINISHED
//	│                 │   Stop, Restart,    ▲  Shutdown,   (Stop,
//	│                 │   HARD dependency   │  SIGTERM,     removal)
//	│                 │   lost, removal     │  SIGKILL
//	│                 │                     │ Recover
//	└───── ERRORED ◄──┘ non-zero exit,      │
//	         │  └────── timeout, crash ─────┘
//	         │
//	         ▼ 3rd error from the same state within ErrorResetTime
//	      BROKEN  (until Apply lists the component again, or Restart)
//
// Also: STARTING goes to ERRORED or STOPPING like RUNNING does; Run exiting
// 0, or no Startup/Run step, ends in FINISHED; Restart of a FINISHED
// component goes back to INSTALLED.
//
// Every transition carries a human-readable reason (StateChange.Reason,
// Status.Reason).
type State string

// The component states, with Greengrass V2 names and meanings.
const (
	// StateNew: known to the supervisor; Bootstrap and Install have not
	// completed yet (or are being retried after an error).
	StateNew State = "NEW"
	// StateInstalled: Install completed; waiting for HARD dependencies or
	// for a start.
	StateInstalled State = "INSTALLED"
	// StateStarting: the Startup step is running.
	StateStarting State = "STARTING"
	// StateRunning: Startup exited 0 (its background processes keep
	// running), or the Run step is running.
	StateRunning State = "RUNNING"
	// StateStopping: the Shutdown step runs, then the component's process
	// groups are terminated.
	StateStopping State = "STOPPING"
	// StateFinished: Run exited 0, the component has no Startup or Run, or
	// it was stopped on request. Nothing of it is running.
	StateFinished State = "FINISHED"
	// StateErrored: a step failed, timed out or the component's process
	// died; Recover runs and the component is restarted.
	StateErrored State = "ERRORED"
	// StateBroken: the component failed too often; it stays here until the
	// next Apply that includes it or a manual Restart.
	StateBroken State = "BROKEN"
)

// ready reports whether a HARD dependency in this state lets its dependents
// start (Greengrass: RUNNING or FINISHED).
func (s State) ready() bool { return s == StateRunning || s == StateFinished }

// StateChange is one transition of one component, reported through
// Options.OnStateChange. The first report of a component has From "" and To
// NEW.
type StateChange struct {
	Component string
	Version   string
	From, To  State
	Reason    string
	At        time.Time
}

// Status is a snapshot of one component.
type Status struct {
	Name, Version string
	State         State
	// Reason says why the component is in State, or what it waits for
	// (e.g. a missing HARD dependency).
	Reason string
	// Since is the time of the last state change.
	Since time.Time
	// PID is the process id of the running Startup or Run step, 0 when
	// no such process is running.
	PID int
	// Paused: Pause froze the component's processes (Greengrass
	// PauseComponent); Resume or a stop thaws them.
	Paused bool
	// Restarts counts restarts after errors, restart requests and
	// dependency restarts since the component was added.
	Restarts     int
	Dependencies []Dependency
	WorkDir      string
	LogFile      string
}
