package broker

import (
	"errors"
	"fmt"
)

var (
	// ErrInsecureListener is returned by New when a listener is not on
	// loopback but lacks TLS or still maps unauthenticated clients to a user.
	ErrInsecureListener = errors.New("listener is not on loopback and not secured")

	// ErrUnknownUser is returned when a user name (Connect, AnonymousUser) is
	// not one of the configured users.
	ErrUnknownUser = errors.New("unknown user")

	// ErrInvalidOptions is returned by New and SetUsers when an option is
	// malformed: a bad listen address, a user without a password, and so on.
	ErrInvalidOptions = errors.New("invalid broker options")

	// ErrNotReady is returned by Ready when the broker did not come up in
	// time or failed while starting (port in use, unusable store folder).
	ErrNotReady = errors.New("broker not ready")

	// ErrNotRunning is returned by SetUsers before Start or after Shutdown:
	// nats-server can only reload a running server. Pass the first users in
	// Options.Users instead.
	ErrNotRunning = errors.New("broker not running")

	// ErrStarted is returned by Start when the broker was already started;
	// a Broker runs once, build a new one with New to start again.
	ErrStarted = errors.New("broker already started")
)

// ListenError is returned by Start when a listener's address cannot be
// bound, most often because another process (another nucleus, a broker)
// listens there. Listener is "nats", "mqtt" or "monitor"
// (Options.NATSListen, MQTTListen, MonitorListen).
type ListenError struct {
	Listener, Addr string
	Err            error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("broker: %s listener cannot bind %s: %v", e.Listener, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
