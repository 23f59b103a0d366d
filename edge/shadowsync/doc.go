// Package shadowsync keeps local device shadows (edge/shadow) in sync with
// AWS IoT Core's, as Greengrass's shadow manager does with its synchronize
// configuration: the shadows named by coreThing and shadowDocuments, in
// the configured direction (betweenDeviceAndCloud, deviceToCloud,
// cloudToDevice), in real time or periodically, at most
// maxOutboundSyncUpdatesPerSecond requests to the cloud.
//
// # State, not requests
//
// The service keeps, per shadow, a durable record in a JetStream KV bucket
// (sward_shadow_sync): the state both sides had at the last sync and each
// side's version then. A side changed when its version (or existence)
// differs from the record's. Syncing a shadow reads both sides, merges
// (decide.go: a three-way merge against the recorded state, with
// Greengrass's conflict rules), writes to each side only what it lacks,
// with the side's own version as a condition (a 409 means it moved on:
// read again, merge again), and records the result.
//
// What is waiting to be synced is thus never a queue that could be lost:
// it is the difference between the two shadows, both stored durably, and
// the record. A local update accepted before kill -9, or a cloud update
// made while the link was down, is found by the full sync that runs at
// every start and every reconnection. Changes made in between are
// coalesced, as Greengrass's request merger does.
//
// # Versions and loops
//
// Each side's version is its own: the cloud's is only ever sent to the
// cloud (as an update's condition) and the device's to the device. An
// update the service applies to one side changes that side's version and
// the record together, so the change events it causes (the local bucket's
// watch, the cloud's update/documents) find both sides at the recorded
// versions and nothing to do: nothing is echoed.
//
// # The cloud side
//
// IoT Core's MQTT shadow topics through the link (edge/iotcore): requests
// with QoS 0 and a clientToken of their own, answers and the cloud's
// changes on one subscription per thing ($aws/things/<thing>/shadow/#).
// The last cloud state seen (an answer, the service's own write, or an
// update/documents message) spares a get before each write; it is
// forgotten at every reconnection.
//
//	Options → New (validates; starts nothing)
//	       → Start (bucket, subscriptions, local watch, workers; full sync once connected)
//	       → Shutdown (waits for the workers)
package shadowsync
