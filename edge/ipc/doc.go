// Package ipc is the IPC front end of the nucleus: components call
// operations by publishing on sward.ipc.<component>.<Operation> (see
// docs/ipc.md), and the Server parses the subject, checks that the caller
// is a deployed component answering to its own inbox, admits the request
// to the caller's fairness lane (fairness.go), looks the operation up in
// its operation table, hands the handler an op.Call, and encodes the answer
// or a *ipc.Error. It counts every request in Metrics (edge/metrics).
//
// The operations are not here: each belongs to the package of the service
// that owns it and is registered by that service's RegisterIPC into an
// op.Table (edge/ipc/op holds the contract), which the nucleus builds from
// its services and passes in Options. An operation marked fast is answered
// in order by the caller's lane worker; the others get a goroutine of
// their own under the server-wide MaxInFlight bound. Only the operations
// Sward serves some other way (pub/sub is plain NATS) are answered here
// (elsewhere.go).
//
// Who may call what is edge/authz's: the Server asks it through the
// Authorizer interface declared here (is the caller deployed, is the reply
// subject its inbox, does its accessControl grant the operation), and
// fills each Call's Authorize with that check.
package ipc
