// Package iotcore owns the nucleus's connection to AWS IoT Core: MQTT
// 3.1.1 (paho) over mutual TLS on port 8883, or on 443 with ALPN
// x-amzn-mqtt-ca; the thing name as client id; a persistent session
// (cleanSession=false) so QoS 1 subscriptions survive reconnects.
//
// # Connections
//
// The primary connection (client id = thing name) carries every publish
// and the first MaxSubscriptions (50, IoT Core's default quota) topic
// filters; further filters open more connections, ThingName#2, #3, … as
// Greengrass names them. Each connection reconnects by itself after a
// loss, waiting a capped exponential backoff with jitter (MinBackoff …
// MaxBackoff). When IoT Core answers CONNACK with sessionPresent=false (a
// new or expired session), the connection subscribes again to all its
// filters, at most 8 per SUBSCRIBE packet (IoT Core's hard limit); with
// sessionPresent=true only to filters added while it was down.
//
// # Publishing
//
// Publish refuses payloads over 128 KB (MaxPayload) and topics IoT Core
// would refuse, with errors that say so. QoS 1 messages go into the
// durable spool (edge/spool) before Publish returns; the primary
// connection's sender reads the spool in order, publishes at most
// PublishRate messages per second (IoT Core's 100/s per connection by
// default) with at most MaxInFlight awaiting their PUBACK, and the
// trimmer removes a message from the spool only once it and every message
// before it were acknowledged. After a loss the sender starts again from
// the first unacknowledged message: order is kept, and duplicates happen
// only across reconnects (at least once, as QoS 1 promises). QoS 0 is
// sent at once while connected; offline it is spooled when
// KeepQoS0WhenOffline is set (spooler.keepQos0WhenOffline), else refused.
//
// IoT Core closes the connection of a device that publishes outside its
// policy. A spooled message that was in flight when MaxPublishRetry (100,
// Greengrass's mqtt.maxPublishRetry) connections in a row ended is
// dropped, counted and named in State.LastDrop, instead of holding the
// spool back forever; and a connection that lasted under 10 s counts as
// a failed attempt, so such a loop backs off.
//
// # State
//
// State reports whether the primary connection is up and since when, the
// endpoint, the last error and the spool's depth; it is published as JSON
// on the local bus subject topics.CloudLinkStateSubject at every connect
// and loss, and Collector exposes it to Prometheus.
//
// # IPC
//
// RegisterIPC (ipc.go) adds the components' PublishToIoTCore and
// SubscribeToIoTCore (ipc_publish_to_iot_core.go,
// ipc_subscribe_to_iot_core.go), authorized by the caller's
// aws.greengrass.ipc.mqttproxy policies (MQTT topic filters as
// resources). A QoS 1 publish is answered once the message is in the
// spool. A subscription delivers IoTCoreMessage events on the caller's
// event subject, with the filter in a header, until Forget ends the
// caller's session. On a nil *Service (no link) both answer ServiceError
// naming the configuration to add.
//
//	Options → New (validates, loads certificates; starts nothing)
//	       → Start (opens the spool; connects in the background)
//	       → Shutdown (disconnects; waits for every goroutine; the spool keeps what is unacknowledged)
package iotcore
