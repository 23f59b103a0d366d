// Package nucleus wires Sward's device services together in one place.
// Each service keeps its own state; the nucleus only connects them, and
// the services report to each other over the bus (component state changes
// are published on SubjectComponentState).
//
// Start runs these services in order (services.go, one service.Service
// each; see edge/service), and Shutdown unwinds them in reverse:
//
//   - root lock: one nucleus per root folder
//   - broker: the embedded nats-server (edge/broker)
//   - nucleus connection: the nucleus's own broker connection and JetStream
//   - supervisor: the component supervisor (edge/lifecycle)
//   - config store: component configuration (edge/config)
//   - shadows: local device shadows (edge/shadow)
//   - streams: the stream manager and its exporters (edge/stream)
//   - ipc: the components' IPC front end (edge/ipc)
//   - iotcore: the AWS IoT Core connection and its spool (edge/iotcore),
//     only when an endpoint is configured
//   - components: stops every component at shutdown, before the IPC
//   - metrics: the /metrics endpoint
//   - deployment engine: edge/deployment, with the component store (edge/store)
//   - control API: what the CLI talks to (edge/control)
//   - folder watcher and git watcher: --recipes and --git (edge/watch)
//   - admin credential: written last, its presence says the nucleus is up
//   - page trimmer: pages out start-up code once the startup set settled
//
// Lifetime: New(opts) validates and fills defaults and starts nothing;
// Start does not block; Shutdown returns once every service has stopped.
package nucleus
