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
//   - token exchange: AWS credentials for the components that depend on
//     aws.greengrass.TokenExchangeService and for the stream exporters
//     (edge/tes), when the device configuration names the credentials
//     provider and role alias
//   - supervisor, config store, shadows and streams, started at once
//     (service.Concurrent; on a fresh root they create their JetStream
//     assets in parallel): the component supervisor (edge/lifecycle),
//     component configuration (edge/config), local device shadows
//     (edge/shadow), the stream manager and its exporters (edge/stream)
//   - subscription events: what components subscribe to over the IPC
//     (edge/events), used by the IPC operations and the deployment engine
//   - iotcore: the AWS IoT Core connection and its spool (edge/iotcore),
//     only when an endpoint is configured
//   - secret manager: the configured cloudSecrets, fetched with the token
//     exchange credentials and stored encrypted (edge/secrets)
//   - ipc: the components' IPC front end (edge/ipc); it builds the
//     deployment engine and the operation table from the services that
//     own operations (operations() in ipc.go: config, events, lifecycle,
//     deployment, shadow, stream, metrics, iotcore, secrets)
//   - bridge: the MQTT bridge's topic mappings between the local broker
//     and IoT Core (edge/bridge), only when mappings are configured
//   - fleet status: reports the components' states and versions to the
//     cloud through the link (edge/fleet), only when the link runs
//   - components: stops every component at shutdown, before the IPC
//   - metrics: the /metrics endpoint (edge/metrics)
//   - deployment engine: edge/deployment, with the component store (edge/store)
//     and its S3 downloader (edge/artifacts), built with the IPC front end
//   - control API: what the CLI talks to (edge/control)
//   - folder watcher and git watcher: --recipes and --git (edge/watch)
//   - admin credential: written last, its presence says the nucleus is up
//   - page trimmer: once the startup set settled and its deployment ended,
//     returns the start-up heap to the kernel and pages out start-up code
//
// Lifetime: New(opts) validates and fills defaults and starts nothing;
// Start does not block; Shutdown returns once every service has stopped.
package nucleus
