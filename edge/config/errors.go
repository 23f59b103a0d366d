package config

import "errors"

var (
	// ErrBadPointer is returned by Apply for a reset entry that is not a JSON
	// pointer (RFC 6901: "" or starting with "/", "~" only as "~0" or "~1"),
	// or that reaches into a list: reset restores whole lists only.
	ErrBadPointer = errors.New("bad configuration pointer")

	// ErrInvalidValue is returned when a configuration holds something JSON
	// cannot carry (a Go type other than objects, lists, strings, numbers,
	// booleans and null; NaN or an infinity), or when a reset would have to
	// write through a value that is not an object.
	ErrInvalidValue = errors.New("invalid configuration value")

	// ErrNotFound is returned by Store.Get when a component has no stored
	// configuration (never stored, or deleted).
	ErrNotFound = errors.New("configuration not found")

	// ErrConflict is returned by Store.Put when the stored revision is not
	// the expected one: another writer got there first. Get the
	// configuration again, re-apply the change and retry.
	ErrConflict = errors.New("configuration changed concurrently")

	// ErrInvalidName is returned when a component name cannot be a key of
	// the configuration bucket (JetStream KV keys: letters, digits and
	// "-/_=."; no leading, trailing or double dot).
	ErrInvalidName = errors.New("invalid component name for the configuration store")

	// ErrTooLarge is returned by Store.Put when the encoded configuration is
	// over MaxConfigSize.
	ErrTooLarge = errors.New("configuration too large")
)
