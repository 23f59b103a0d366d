// Package telemetry is the telemetry Lambda's handler. The telemetry IoT
// rule (shared/topics.TelemetryRuleSQL) invokes it asynchronously with one
// device message; Handle
//
//  1. decodes the rule event and the device's batch (shared/telemetry),
//     counting and logging malformed payloads and records with the reason,
//     and keeping the good records of a batch that has bad ones;
//
//  2. archives the good records to the telemetry bucket as newline-delimited
//     JSON under Hive-style partitions, so Athena can query them:
//
//     thing=<thing>/date=YYYY-MM-DD/hour=HH/<stream>-<digest>.json
//
//     one line per record, {"thing","stream","metric","value","timestamp",
//     "receivedAt"} and "messageId" when the batch has one, partitioned by
//     the reading's own UTC hour (one object per hour a batch spans). The
//     digest identifies the message: 64 bits of the SHA-256 of thing, stream
//     and the batch's messageId ("m" before it), or of the payload when the
//     batch has no id. Nothing else names the object (not receivedAt, which
//     a re-send changes), so a retried invocation, the same message
//     delivered twice, or a device sending a message again with the same
//     messageId overwrites the object instead of adding duplicate rows;
//
//  3. evaluates each metric's readings: the thresholds of SWARD_THRESHOLDS
//     (min, max) and an anomaly rule, a z-score against an exponentially
//     weighted mean and variance kept per thing, stream and metric in the
//     state table (see stats.go);
//
//  4. publishes at most one alert per metric and kind on
//     sward/<thing>/alerts through the IoT data plane (QoS 1).
//
// # Failures and retries
//
// A bad device message (a payload that is not a batch, a bad stream name,
// bad records) never fails the invocation: a retry cannot fix it, and one
// device's garbage must not fill the failure queue that signals outages. It
// is logged at WARN with thing, stream and reason, and counted (Malformed).
// An event that is empty or not JSON is different: the telemetry rule always
// sends a JSON object, so it is the wiring's fault (a changed rule, a manual
// invoke). It is logged at ERROR and refused with lambdakit.ErrRefused, so
// that it lands in the failure queue, whose alarm calls a person, and can
// be redriven after the fix. A failed AWS
// call does (lambdakit.ErrInternal, details only in the log), so Lambda
// retries the event, and every step is safe to repeat: the archive object
// is overwritten, state remembers the digests of the last batches it
// counted and counts a batch once, and alerts are published before the state that
// raised them is committed, with ids derived from their content, so a retry
// may repeat an alert (same alertId) but never loses one.
//
// State updates are conditional writes on a version attribute: two
// invocations for the same metric at once never lose an update; the loser
// reads again and recomputes.
package telemetry
