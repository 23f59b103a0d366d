package lifecycle

import (
	"fmt"
	"time"
)

// maxErrorsPerState is the number of errors from one state, within
// ErrorResetTime, that makes a component BROKEN. Three is Greengrass's
// MAXIMUM_CONTINUAL_ERROR: two chances for Recover to fix things.
const maxErrorsPerState = 3

// Restart-tracker decisions, in the words that end up in Status.Reason.
const (
	// reasonWithinPolicy: the error count from the state is below the
	// limit, so Recover runs and the component is restarted.
	reasonWithinPolicy = "error %d of %d from %s within %s: running Recover, then restarting"
	// reasonTooManyErrors: the limit is reached, the component is BROKEN.
	reasonTooManyErrors = "%d errors from %s within %s (last: %s); BROKEN until the next deployment or a manual restart"
)

// restartTracker decides, after an error, whether a component restarts or
// goes BROKEN, following Greengrass: errors are counted per state the
// component was in, errors older than the window are forgotten, and a
// non-error transition out of a state resets that state's count.
type restartTracker struct {
	window time.Duration
	errs   map[State][]time.Time
}

func newRestartTracker(window time.Duration) *restartTracker {
	return &restartTracker{window: window, errs: map[State][]time.Time{}}
}

// decision is the outcome of an error.
type decision struct {
	Broken bool
	Reason string
}

// errored records an error from state from at now and decides.
func (t *restartTracker) errored(from State, cause string, now time.Time) decision {
	kept := t.errs[from][:0]
	for _, at := range t.errs[from] {
		if now.Sub(at) < t.window {
			kept = append(kept, at)
		}
	}
	kept = append(kept, now)
	t.errs[from] = kept
	if len(kept) >= maxErrorsPerState {
		return decision{Broken: true, Reason: fmt.Sprintf(reasonTooManyErrors, len(kept), from, t.window, cause)}
	}
	return decision{Reason: fmt.Sprintf(reasonWithinPolicy, len(kept), maxErrorsPerState, from, t.window)}
}

// transitioned records a transition from → to; a non-error report from a
// state resets its error count.
func (t *restartTracker) transitioned(from, to State) {
	if to != StateErrored && to != StateBroken {
		delete(t.errs, from)
	}
}

// reset forgets all errors (a BROKEN component restarted by hand gets a
// fresh start).
func (t *restartTracker) reset() { clear(t.errs) }
