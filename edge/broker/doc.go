// Package broker owns the local bus of the Sward nucleus: an embedded
// nats-server with a NATS listener, an MQTT 3.1.1 listener and JetStream.
//
// Nucleus services talk to it through in-process connections (Connect), so
// their traffic never touches a socket. Components and sensors use the TCP
// listeners. The package owns a small auth model (Users, Permissions,
// AnonymousUser) that applies to NATS and MQTT alike, checked by its own
// authenticator (login names end before a last "?", where the AWS IoT Device
// SDKs put their metrics), and can be changed at runtime with SetUsers.
//
// Lifecycle, as in nats-server:
//
//	b, err := broker.New(opts) // fills defaults, validates, binds nothing
//	err = b.Start()            // does not block; opens the JetStream store and listeners
//	err = b.Ready(5 * time.Second)
//	...
//	b.Shutdown()
//	b.WaitForShutdown()
//
// A Broker cannot be started again after Shutdown; build a new one with New
// (the JetStream store and MQTT sessions in StoreDir carry over).
//
// Storage: every stream nats-server keeps for MQTT is bounded (MQTTLimits,
// put on the streams in Ready), MQTT client ids can be reserved to a user
// (User.ClientIDs), and a store write error such as a full disk is
// recovered from in place once the disk has room (recover.go).
//
// Memory: once many clients have connected or left and the count holds
// still, the broker collects garbage and returns the free memory to the
// operating system (memory.go), so an idle nucleus does not keep what a
// burst of connects freed.
//
// Security rule: a listener that is not on loopback must have TLS and must
// not map unauthenticated clients to a user. See README.md for the defaults,
// the storage bounds and how MQTT topics map onto NATS subjects.
package broker
