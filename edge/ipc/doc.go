// Package ipc is the IPC front end of the nucleus: components call
// operations by publishing on sward.ipc.<component>.<Operation> (see
// docs/ipc.md), and the Server decodes the request strictly, checks that the
// caller is a deployed component answering to its own inbox, admits it to
// the caller's fairness lane (fairness.go), runs the operation from the
// operation table (table.go) and encodes the answer or a *ipc.Error.
//
// Each operation's row in the table says whether it is fast (answered in
// order by the caller's lane worker) or slow (a goroutine under the
// server-wide MaxInFlight bound), and its handler decodes the typed request,
// authorizes it against the caller's accessControl policies and calls the
// service behind it (the supervisor, the deployment engine, the
// configuration store, shadows, streams, metrics). The configuration
// operations (configuration.go) are thin: edge/config owns the cache, the
// merge and the timestamp rule.
//
// Who may call what is edge/authz's: the Server asks it through the
// Authorizer interface declared here (is the caller deployed, is the reply
// subject its inbox, does its accessControl grant the operation). The
// package also holds subscription events (events.go) and the /metrics
// endpoint (metrics.go).
package ipc
