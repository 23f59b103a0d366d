// Package nucleus wires Sward's device services together in one place: the
// embedded broker (edge/broker), the component supervisor (edge/lifecycle),
// the component store (edge/store) and the control API (edge/control). Each
// service keeps its own state; the nucleus only connects them, and the
// services report to each other over the bus (component state changes are
// published on SubjectComponentState).
//
// Lifetime: New(opts) validates and fills defaults, Start brings up the broker,
// writes the admin credential and applies the startup recipes, Shutdown stops
// components in reverse dependency order and then the broker.
package nucleus
