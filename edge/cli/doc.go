// Package cli holds the `sward` command tree (cobra): `run` starts the
// nucleus; `component`, `logs` and `recipe` are the greengrass-cli shaped
// verbs. Commands that talk to a running nucleus find it through the admin
// credential in its root folder (edge/control); `logs` and `recipe validate`
// need no running nucleus.
package cli
