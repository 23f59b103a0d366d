package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes carried in an error response. They are the Greengrass IPC error
// type names, so code written against Greengrass's SDKs reads them unchanged.
const (
	// CodeUnauthorized: the caller's accessControl does not allow the
	// operation on the resource.
	CodeUnauthorized = "UnauthorizedError"
	// CodeResourceNotFound: the named component, key, shadow, stream or
	// deployment does not exist.
	CodeResourceNotFound = "ResourceNotFoundError"
	// CodeInvalidArguments: the request is malformed or a field is wrong.
	CodeInvalidArguments = "InvalidArgumentsError"
	// CodeConflict: a version or timestamp check failed (a newer write won).
	CodeConflict = "ConflictError"
	// CodeService: the nucleus failed; the message says what to look at.
	CodeService = "ServiceError"
	// CodeUnsupportedOperation: the subject names no operation Sward serves.
	CodeUnsupportedOperation = "UnsupportedOperationError"
)

// Error is the error half of every IPC response: {"error":{"code","message"}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error; anything else becomes a ServiceError whose
// message is generic, so internal details never reach the caller.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeService, Message: "the nucleus could not complete the request; see the nucleus log"}
}

// ErrorResponse is the body of a failed call.
type ErrorResponse struct {
	Error *Error `json:"error"`
}

// MarshalError encodes err as an error response body.
func MarshalError(err error) []byte {
	b, _ := json.Marshal(ErrorResponse{Error: AsError(err)})
	return b
}

// DecodeError returns the *Error in a response body, or nil when the body is
// not an error response.
func DecodeError(body []byte) *Error {
	var r ErrorResponse
	if json.Unmarshal(body, &r) != nil || r.Error == nil || r.Error.Code == "" {
		return nil
	}
	return r.Error
}
