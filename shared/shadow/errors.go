package shadow

import (
	"fmt"
	"strconv"
)

// Error is a rejected shadow request: Code is the HTTP-style status AWS IoT
// uses (400, 404, 409, 413, 415, 429, 500) and Message is AWS's message for
// it, so what a client reads locally is what it reads from IoT Core. Over
// MQTT and NATS it travels as the AWS error document
// {"code","message","timestamp","clientToken"} on the /rejected topic.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return "shadow: " + strconv.Itoa(e.Code) + " " + e.Message }

// Is makes errors.Is(err, ErrNotFound) and friends match any *Error with the
// same Code, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is. Each matches every *Error with its Code.
var (
	// ErrBadRequest (400): the request is not a valid shadow request
	// (malformed JSON, missing or mistyped state, bad version or
	// clientToken, too deep, bad thing or shadow name, bad page token).
	ErrBadRequest = &Error{Code: 400, Message: "Bad Request"}
	// ErrNotFound (404): the shadow does not exist (never created, or deleted).
	ErrNotFound = &Error{Code: 404, Message: "Not Found"}
	// ErrConflict (409): the request's version is not the shadow's current
	// version. Get the shadow again, re-apply the change, retry.
	ErrConflict = &Error{Code: 409, Message: "Version conflict"}
	// ErrTooLarge (413): the request or the resulting state is over
	// Options.MaxDocumentBytes.
	ErrTooLarge = &Error{Code: 413, Message: "The payload exceeds the maximum size allowed"}
	// ErrUnsupportedEncoding (415): the payload is not UTF-8.
	ErrUnsupportedEncoding = &Error{Code: 415, Message: "Unsupported documented encoding; supported encoding is UTF-8"}
	// ErrThrottled (429): the thing is over Options.RequestsPerSecondPerThing.
	ErrThrottled = &Error{Code: 429, Message: "Too Many Requests"}
	// ErrInternal (500): storage failed; the service log says why.
	ErrInternal = &Error{Code: 500, Message: "Internal service failure"}
)

// AWS's messages (Device Shadow error messages, AWS IoT developer guide);
// MsgInvalidJSON is exported for services that parse their own requests.
const (
	MsgInvalidJSON       = "Invalid JSON"
	msgMissingState      = "Missing required node: state"
	msgStateNotObject    = "State node must be an object"
	msgDesiredNotObject  = "Desired node must be an object"
	msgReportedNotObject = "Reported node must be an object"
	msgInvalidVersion    = "Invalid version"
	msgInvalidToken      = "Invalid clientToken"
	msgTooDeep           = "JSON contains too many levels of nesting; maximum is 6"
	msgInvalidNode       = "State contains an invalid node"
)

// BadRequest is a 400 with a formatted message.
func BadRequest(format string, args ...any) *Error {
	return &Error{Code: 400, Message: fmt.Sprintf(format, args...)}
}

// NotFound is AWS's 404 message: the shadow's name, or the thing's name for
// a classic shadow.
func NotFound(thing, name string) *Error {
	if name == "" {
		name = thing
	}
	return &Error{Code: 404, Message: fmt.Sprintf("No shadow exists with name: '%s'", name)}
}

// Internal, Conflict, TooLarge and Throttled are fresh copies of their
// sentinels, for a caller to return.
func Internal() *Error { return &Error{Code: ErrInternal.Code, Message: ErrInternal.Message} }

func Conflict() *Error { return &Error{Code: ErrConflict.Code, Message: ErrConflict.Message} }

func TooLarge() *Error { return &Error{Code: ErrTooLarge.Code, Message: ErrTooLarge.Message} }

func Throttled() *Error { return &Error{Code: ErrThrottled.Code, Message: ErrThrottled.Message} }

// Bad is a 400 with AWS's message msg.
func Bad(msg string) *Error { return &Error{Code: 400, Message: msg} }
