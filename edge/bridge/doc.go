// Package bridge is Sward's MQTT bridge: Greengrass's
// aws.greengrass.clientdevices.mqtt.Bridge mqttTopicMapping, as nucleus
// configuration. Each Mapping takes the messages on an MQTT topic filter
// at its source and publishes them at its target under
// TargetTopicPrefix + topic, so a sensor or component publishing locally
// reaches AWS IoT Core and cloud messages reach local subscribers.
//
// # Sources and targets
//
//   - LocalMqtt and Pubsub are both the local broker (the embedded
//     nats-server): MQTT clients and components (IPC PublishToTopic and
//     SubscribeToTopic, plain NATS) meet on it, MQTT topic a/b being NATS
//     subject a.b (edge/broker README). As a source either one is a
//     subscription of the nucleus's connection on the filter's subjects
//     (a/# is a and a.>, + is *); as a target a NATS publish on the
//     subject of prefix+topic, which MQTT subscribers get at QoS 0. The
//     two names differ only in what they tell the reader; a mapping
//     between them without a prefix moves nothing (the message is
//     already there) and is logged as such, so Greengrass's
//     documented LocalMqtt ↔ Pubsub mappings are accepted unchanged.
//   - IotCore is the nucleus's link (edge/iotcore), through the small
//     Link interface: as a source iotcore.Subscribe at QoS 1, as a target
//     iotcore.Publish at QoS 1, which is in the durable spool when it
//     returns: a local message bridged to IoT Core survives an outage and
//     a restart of the nucleus.
//
// Per mapping, messages are taken one at a time and in order: a local
// message bound for IoT Core is in the spool before the next is taken.
// What comes faster waits in the client library, up to nats.go's pending
// limits (512Ki messages, 64 MiB); beyond them it is dropped, counted in
// Stats.Failed (sward_bridge_failed_total on /metrics, see Collector) and logged (a message on the local broker is not yet the
// link's: it is durable from the moment it is spooled).
//
// A filter that starts with a wildcard does not match $ topics (MQTT
// 3.1.1, 4.7.2), and no filter takes the nucleus's own traffic (NATS
// inboxes, sward.* subjects).
//
// # No loops
//
// A message the bridge publishes locally carries the Header
// Sward-Bridge (the mapping's name), and the local sources skip such
// messages: what was bridged in is never bridged out again, also between
// two local mappings. IoT Core sends a device its own publishes back when
// it is subscribed to them (MQTT 3.1.1 has no "no local"), so with
// LocalMqtt → IotCore and IotCore → LocalMqtt on the same topics every
// message would come back once; the bridge remembers what it published
// for each IotCore-source mapping that matches it (topic and payload
// hash, at most maxEchoes) and drops that one copy, while the same
// message from another publisher still comes through (should another
// publisher send the very same payload on that topic before the echo
// arrives, its copy is the one dropped and the echo delivered: the count
// is still right).
//
// # Validation
//
// Validate (and New) refuse, naming the mapping and the field: an unknown
// source or target, a source equal to its target, a bad filter (# not
// last, a wildcard inside a level, empty), a prefix with a wildcard, a
// name used twice; New also refuses IotCore mappings when there is no
// link. Start fails, naming the mapping, when IoT Core refuses a
// subscription.
//
//	Options → New (validates; subscribes to nothing)
//	       → Start (subscribes every source)
//	       → Shutdown (unsubscribes; waits for the handlers running)
package bridge
