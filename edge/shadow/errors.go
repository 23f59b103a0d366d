package shadow

import shadowdoc "github.com/sward-iot/sward/shared/shadow"

// Error is a rejected shadow request (shared/shadow.Error): Code is the
// HTTP-style status AWS IoT uses and Message AWS's message for it. Over
// MQTT and NATS it travels as the AWS error document on the /rejected topic.
type Error = shadowdoc.Error

// Sentinels for errors.Is, each matching every *Error with its Code
// (shared/shadow documents each).
var (
	ErrBadRequest          = shadowdoc.ErrBadRequest
	ErrNotFound            = shadowdoc.ErrNotFound
	ErrConflict            = shadowdoc.ErrConflict
	ErrTooLarge            = shadowdoc.ErrTooLarge
	ErrUnsupportedEncoding = shadowdoc.ErrUnsupportedEncoding
	ErrThrottled           = shadowdoc.ErrThrottled
	ErrInternal            = shadowdoc.ErrInternal
)
