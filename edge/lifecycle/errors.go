package lifecycle

import "errors"

var (
	// ErrUnknownComponent is returned for a component name that is not in
	// the supervisor's current set.
	ErrUnknownComponent = errors.New("lifecycle: unknown component")
	// ErrShutdown is returned by calls made after Shutdown began.
	ErrShutdown = errors.New("lifecycle: supervisor is shut down")
	// ErrInvalidComponent wraps every validation error returned by Apply.
	ErrInvalidComponent = errors.New("lifecycle: invalid component")
	// ErrDependencyCycle is returned by Apply when HARD or SOFT dependencies
	// form a cycle; the message names the cycle.
	ErrDependencyCycle = errors.New("lifecycle: dependency cycle")
)
