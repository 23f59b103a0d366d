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
//     thing=<thing>/date=YYYY-MM-DD/hour=HH/<stream>-<receivedAt>-<digest>.json
//
//     one line per record, {"thing","stream","metric","value","timestamp",
//     "receivedAt"}, partitioned by the reading's own UTC hour (one object
//     per hour a batch spans). The object name is derived from the event
//     (receivedAt and the SHA-256 of the payload), so a retried invocation,
//     or the same message delivered twice, overwrites the object instead of
//     adding a copy;
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
// Bad input never fails the invocation: a retry cannot fix it. A failed AWS
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
