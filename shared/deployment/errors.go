package deployment

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about the content of a deployment
// document or of a CLI argument (syntax, an unknown field, a wrong type, a
// value out of range). Callers that only need to tell "bad input" from other
// failures branch on it.
var ErrInvalid = errors.New("invalid deployment document")

// ErrTooLarge is returned by Decode and Encode for a document over
// MaxDocumentSize bytes.
var ErrTooLarge = errors.New("deployment document too large")

// FieldError is one problem in one document. Path is the field path in the
// document (for example components["com.example.A"].configurationUpdate.reset[1]),
// empty for problems with the whole input. Msg says what is wrong and what
// would make it valid.
type FieldError struct {
	Path string
	Msg  string
	// Err is the sentinel the error wraps: ErrInvalid or ErrTooLarge.
	Err error
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Unwrap returns the sentinel, so errors.Is(err, ErrInvalid) holds.
func (e *FieldError) Unwrap() error { return e.Err }

// maxReported bounds how many problems one error lists: enough to fix a
// document in one go, few enough that a hostile one cannot flood a log.
const maxReported = 50

// problems collects FieldErrors.
type problems []*FieldError

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, 0, min(len(p), maxReported)+1)
	for _, e := range p[:min(len(p), maxReported)] {
		errs = append(errs, e)
	}
	if n := len(p) - maxReported; n > 0 {
		errs = append(errs, &FieldError{Msg: fmt.Sprintf("and %d more problems", n), Err: p[0].Err})
	}
	return errors.Join(errs...)
}
