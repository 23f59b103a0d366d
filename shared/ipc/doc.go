// Package ipc holds the wire contract between components and the nucleus:
// subject names, operation names, request and response bodies, and the error
// shape. It has no NATS import; the Go client lives in edge/ipc/client.
package ipc
