// Package cli holds the `sward` command tree (cobra): `run` starts the
// nucleus; `deployment`, `component` and `logs` are the greengrass-cli
// shaped verbs and take its spellings beside Sward's own (greengrass.go:
// -n, -i, -c FILE, --filter, and its multi-letter short flags rewritten by
// Execute). Commands that talk to a running nucleus find it through the
// admin credential in its root folder (edge/control); `logs` and `recipe
// validate` need no running nucleus. `provision`, `publish` and `release
// status` talk to AWS (or devcloud) with the caller's credentials
// (edge/provision, edge/publish), not to a nucleus.
package cli
