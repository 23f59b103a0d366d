// Package events keeps what components subscribe to through the IPC and
// delivers the events on sward.event.<component>.<Kind>: configuration
// updates (followed from the configuration store), validation of a
// deployment's new configuration, and component updates with their
// deferrals.
//
// The Registry serves two sides: its IPC operations (ipc.go, registered
// with RegisterIPC) take the subscriptions and the components' answers,
// and the deployment engine asks it, through the deployment.Participants
// interface it declares, to Validate a new configuration, Notify
// components before an update (waiting while they defer it) and tell them
// it was Updated. A component's subscriptions end with its session
// (Forget).
//
// Lifetime: New checks Options and starts nothing; Start follows the
// configuration store; Shutdown stops that and waits for it.
package events
