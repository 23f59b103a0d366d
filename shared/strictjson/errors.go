package strictjson

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about the content of a document:
// syntax, an unknown field, a wrong type, a missing field, a value out of
// range. Callers that only need to tell bad input from other failures
// branch on it.
var ErrInvalid = errors.New("invalid document")

// ErrTooLarge is wrapped by the error for input over Options.MaxSize.
var ErrTooLarge = errors.New("document too large")

// FieldError is one problem in one document. File names the file the
// document was read from (a recipe), empty for documents that are not files
// and for problems found after reading. Path is the field path (for
// example records[3].value, components["com.example.A"].artifacts[0].key),
// empty for problems with the whole input. Msg says what is wrong and what
// would make it valid. Error writes them as file: path: msg, leaving out
// what is empty.
type FieldError struct {
	File string
	Path string
	Msg  string
	// Err is the sentinel the error wraps: ErrInvalid or ErrTooLarge here;
	// a document package may wrap its own (recipe.ErrUnresolved).
	Err error
}

func (e *FieldError) Error() string {
	msg := e.Msg
	if e.Path != "" {
		msg = e.Path + ": " + msg
	}
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	return msg
}

// Unwrap returns the sentinel, so errors.Is(err, ErrInvalid) holds.
func (e *FieldError) Unwrap() error { return e.Err }

// MaxReported bounds how many problems one error lists: enough to fix a
// document in one go, few enough that a hostile one cannot flood a log.
const MaxReported = 50

// Problems collects FieldErrors; document packages use it in their
// Validate methods so their errors look like Decode's.
type Problems []*FieldError

// Add records a problem at path wrapping ErrInvalid.
func (p *Problems) Add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

// Err joins the problems into one error, nil when there are none.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, 0, min(len(p), MaxReported)+1)
	for _, e := range p[:min(len(p), MaxReported)] {
		errs = append(errs, e)
	}
	if n := len(p) - MaxReported; n > 0 {
		errs = append(errs, &FieldError{Msg: fmt.Sprintf("and %d more problems", n), Err: p[0].Err})
	}
	return errors.Join(errs...)
}

// Merge appends the FieldErrors inside err (as Decode and Err return them)
// to p, and any other error as a problem of the whole document.
func (p *Problems) Merge(err error) {
	if err == nil {
		return
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			p.Merge(e)
		}
		return
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		*p = append(*p, fe)
		return
	}
	*p = append(*p, &FieldError{Msg: err.Error(), Err: ErrInvalid})
}
