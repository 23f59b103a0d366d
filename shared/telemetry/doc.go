// Package telemetry owns the telemetry documents: the batch a device
// publishes on sward/<thing>/telemetry/<stream>, the event the telemetry
// IoT rule hands the telemetry Lambda, the Lambda's threshold settings
// (SWARD_THRESHOLDS), and the alert the Lambda publishes back on
// sward/<thing>/alerts.
//
// # The batch (device → cloud)
//
//	{"formatVersion": 1,
//	 "messageId": "0b8e7c1e-2f4a-4d6b-9a57-3c1f0e2d9b44",
//	 "records": [
//	   {"metric": "temperature", "value": 21.5, "timestamp": 1767225600000},
//	   {"metric": "humidity", "value": 40, "timestamp": 1767225600000}
//	 ]}
//
// formatVersion is required and must be 1. records holds 1 to MaxRecords
// readings; a record is a metric name (1 to 128 letters, digits, '.', ':',
// '_', '-'), a finite number, and the time of the reading in epoch
// milliseconds between 2000 and 2100 (a value that looks like seconds is
// refused with that hint). A batch is at most MaxBatchSize bytes, IoT Core's
// message limit. Decoding is strict (shared/strictjson): unknown fields,
// null, duplicate keys are errors naming the path, such as records[3].value.
//
// messageId is optional (1 to 64 letters, digits, '.', ':', '_', '-'): the
// device's name for the message, the same when it sends the message again.
// The cloud archives a message under a key derived from thing, stream and
// messageId (or, without one, from the payload's bytes), so a re-sent
// message overwrites its first copy instead of adding duplicate rows.
//
// DecodeBatch separates the two kinds of problem: a batch that is not a
// batch at all (not JSON, wrong formatVersion, no records list, too large)
// is an error; a bad record in a good batch is listed in Batch.Rejected
// with its reason, and the good records of the batch are kept. The cloud
// archives what is good and counts what is not, so one broken sensor does
// not lose its neighbours' readings.
//
// # The rule event (IoT rule → telemetry Lambda)
//
// {"data": "<base64 payload>", "thing": "<topic(2)>", "stream":
// "<topic(4)>", "receivedAt": <epoch ms>}, as shared/topics.TelemetryRuleSQL
// produces it; DecodeRuleEvent decodes it and the base64.
//
// # Thresholds (SWARD_THRESHOLDS)
//
//	{"temperature": {"min": -20, "max": 80}, "vibration": {"max": 3.5, "zScore": 5}}
//
// Per metric: min and max bound the value (a reading below min or above max
// raises an alert), zScore replaces DefaultZScore for the anomaly rule.
// Each entry needs at least one of them; min must not exceed max; zScore is
// positive. Metrics not listed get the anomaly rule with the defaults.
//
// # The alert (cloud → device)
//
//	{"formatVersion": 1, "alertId": "…", "thing": "pi-1", "stream": "env",
//	 "metric": "temperature", "kind": "ABOVE_MAX", "value": 91.2,
//	 "timestamp": 1767225600000, "count": 3, "limit": 80}
//
// kind is BELOW_MIN, ABOVE_MAX (limit is the threshold crossed) or ANOMALY
// (mean, stdDev and zScore describe the statistics the value was judged
// against). One alert covers every record of one batch that raised the same
// kind for the same metric: value and timestamp are those of the most
// extreme record, count how many there were. alertId is derived from the
// alert's content, so an alert sent twice (the Lambda retried) has the same
// id and a device can drop the second.
package telemetry
