// Package stream is the stream manager: Greengrass-style message streams
// (CreateMessageStream, AppendMessage, ReadMessages, ...) stored as
// JetStream streams on the embedded broker.
//
// # Names the exporters and other readers rely on
//
//   - JetStream stream: JetStreamName(name) = "sward_stream_" + the stream
//     name with '_' written "__", ' ' "_s", ',' "_c" and '.' "_d" (letters,
//     digits and '-' stay). A name whose encoding would pass JetStream's
//     255-character limit is cut and ends in "_h" + 32 hex digits of its
//     SHA-256.
//   - Subject: Subject(name) = "$SWARD.streamdata." + the same encoding.
//     Every message of the stream is stored under it.
//   - Message data: the appended payload bytes, unchanged, with no headers.
//   - Sequence numbers: a message's stream manager sequence number IS its
//     JetStream sequence (the first message of a stream is 1, not 0 as in
//     Greengrass). Ingest time is the JetStream timestamp.
//   - The stream definition (ipc.MessageStreamDefinition as JSON) is kept in
//     the JetStream stream's metadata under MetadataDefinition.
//
// Only the Manager publishes to these subjects; components reach it through
// its IPC operations (ipc.go, registered by RegisterIPC, served as
// ForComponents serves them), the CLI through the admin subjects
// $SWARD.stream.<Op>.
// README.md describes the mapping, the durability of each mode and the
// measured rates.
package stream
