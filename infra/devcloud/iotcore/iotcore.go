// Package iotcore is devcloud's IoT data endpoint: MQTT 3.1.1 over TLS
// with client certificates, on a port standing in for 8883 and one that
// requires ALPN `x-amzn-mqtt-ca`, standing in for 443. The MQTT server is
// mochi-mqtt; this package adds IoT Core's authorization and limits.
//
// What is enforced, as IoT Core does:
//   - TLS 1.2+ with a client certificate signed by devcloud's CA and
//     registered to a thing (an unknown or revoked certificate is refused
//     at CONNECT);
//   - iot:Connect on client/<client id> under the policies attached to the
//     certificate, with ${iot:Connection.Thing.ThingName} the thing the
//     certificate is attached to, so the template's device policy admits
//     only client id = thing name;
//   - iot:Publish on topic/<topic>: a refused publish closes the
//     connection, as IoT Core does for MQTT 3.1.1;
//   - iot:Subscribe on topicfilter/<filter>: a refused filter gets the
//     SUBACK failure code 0x80;
//   - iot:Receive on topic/<topic> for each message delivered;
//   - payloads of at most 128 KB, topics of at most 256 bytes and 7
//     slashes (the reserved prefix of $aws/rules/<rule>/ not counted), and
//     no publish to a reserved $aws/ topic other than a thing's shadow and
//     jobs topics and basic ingest ($aws/rules/...): each closes the
//     connection.
//
// Services inside devcloud receive device requests through Handle
// (shadows) or HandleRequest (jobs, which answers the requester alone with
// Reply) and publish with Publish; Connections lists the open connections
// for `devcloud status`. Not yet: rules behind $aws/rules/ (messages there
// are routed as plain topics), refusing device publishes to the topics
// only the service publishes (jobs/notify…, …/accepted), persistent
// sessions across restarts,
// retained messages as IoT Core limits them, the per-connection throttles.
//
// A subscription whose filter is also a plain topic (no + or #) is checked
// against iot:Subscribe at SUBSCRIBE and iot:Receive at delivery, as IoT
// Core does; mochi calls one hook for both, so the SUBSCRIBE check is done
// in OnSubscribe and the hook treats only wildcard filters as subscribes.
package iotcore
