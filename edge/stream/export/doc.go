// Package export runs the exports of a stream manager stream: Kinesis
// (PutRecords), HTTP (POST) and S3 (one object per batch), configured by an
// ipc.ExportDefinition.
//
// A Runner serves one stream. Each enabled export is a goroutine reading
// the stream's JetStream stream through its own durable pull consumer
// (ConsumerName, explicit acks) and keeping its progress in the KV bucket
// StateBucket under StateKey. A batch's life:
//
//	fetch (batchSize, or batchIntervalMillis after the first message)
//	  → store in-flight marker {first, last, started}     "marked"
//	  → send, retrying until it succeeds (status record per attempt)
//	                                                        "sent"
//	  → store committed = last, clear the marker            "committed"
//	  → ack the messages
//
// The state, not the consumer, is the truth: after kill -9 the consumer's
// ack floor may lag, so Start re-positions the consumer at committed+1 and
// a delivery at or below committed is acked and dropped. A marker found at
// Start is finished first, with exactly its range, so batch boundaries do
// not move across restarts; each destination's resume decides what of it
// still has to go (see README.md for what is guaranteed per destination).
//
// The package depends on JetStream and the AWS SDK only; it does not know
// the stream manager's naming (edge/stream passes the JetStream stream).
package export
