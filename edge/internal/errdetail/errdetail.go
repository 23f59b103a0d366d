// Package errdetail is the error the edge services return when a sentinel
// alone would say too little: the message is complete and reads naturally
// (no "sentinel: " prefix), while errors.Is still matches the sentinel and,
// when there is one, the underlying cause.
package errdetail

import "fmt"

// Error is a full message with the sentinel (and cause) it stands for.
type Error struct {
	Msg      string
	Sentinel error
	Cause    error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is and errors.As see the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Sentinel}
	}
	return []error{e.Sentinel, e.Cause}
}

// New returns an *Error for sentinel with a formatted message.
func New(sentinel error, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Sentinel: sentinel}
}
