package lifecycle

import "errors"

var (
	// ErrUnknownComponent is returned for a component name that is not in
	// the supervisor's current set.
	ErrUnknownComponent = errors.New("lifecycle: unknown component")
	// ErrShutdown is returned by calls made after Shutdown began.
	ErrShutdown = errors.New("lifecycle: supervisor is shut down")
	// ErrInvalidReport is returned by ReportState for a state a component
	// cannot report, or when it is not STARTING or RUNNING.
	ErrInvalidReport = errors.New("lifecycle: invalid state report")
	// ErrInvalidComponent wraps every validation error returned by Apply.
	ErrInvalidComponent = errors.New("lifecycle: invalid component")
	// ErrDependencyCycle is returned by Apply when HARD or SOFT dependencies
	// form a cycle; the message names the cycle.
	ErrDependencyCycle = errors.New("lifecycle: dependency cycle")
)
