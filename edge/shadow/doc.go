// Package shadow owns local device shadows with AWS IoT Device Shadow
// semantics: classic and named shadows for any thing (the core device and
// client devices), desired/reported/delta, per-leaf metadata timestamps,
// versions with optimistic concurrency, clientToken echo, and AWS's error
// codes and messages.
//
// A Service serves them three ways: IoT Core's MQTT topics on the local
// broker ($aws/things/<thing>/shadow/[name/<shadow>/](get|update|delete),
// with /accepted, /rejected, /update/delta and /update/documents), NATS
// request/reply on the same subjects (the reply carries the accepted or
// rejected document), and Go methods (Get, Update, Delete, ListNamed),
// which its IPC ShadowManager operations call (ipc.go, RegisterIPC). Shadows are stored in a JetStream KV bucket, one key
// per shadow, written with compare-and-swap on the KV revision, so
// concurrent writers never lose an update.
//
// The document model (no I/O) is shared/shadow, which devcloud's cloud
// shadows use too; service.go stores, publishes
// and serves. README.md states the semantics and the choices made where
// AWS leaves room.
package shadow
