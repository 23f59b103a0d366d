// Package control owns the nucleus's administrative API: the subjects the
// `sward` CLI uses to reach a running nucleus over NATS, their JSON request
// and response bodies, the admin credential file the nucleus writes into its
// root folder, a Server that answers those subjects from a Backend, and the
// Client the CLI calls.
//
// The admin credential is written by the nucleus at start to
// <root>/admin.json with mode 0600 and removed at a clean shutdown; only users
// able to read the root folder can administer the nucleus. Components never get
// this credential: their broker users may not publish under SubjectPrefix.
package control
