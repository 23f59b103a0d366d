package ipc

// Stream manager operations (service sward.StreamManager in accessControl,
// named bare: Greengrass does not authorize its stream manager). The names
// are those of Greengrass's stream manager SDK; request and response bodies
// are JSON with the SDK's field names.
const (
	OpCreateMessageStream   = "CreateMessageStream"
	OpUpdateMessageStream   = "UpdateMessageStream"
	OpDeleteMessageStream   = "DeleteMessageStream"
	OpDescribeMessageStream = "DescribeMessageStream"
	OpListStreams           = "ListStreams"
	OpAppendMessage         = "AppendMessage"
	OpReadMessages          = "ReadMessages"
)

// StreamOperations lists every stream manager operation, in the order above.
var StreamOperations = []string{
	OpCreateMessageStream, OpUpdateMessageStream, OpDeleteMessageStream,
	OpDescribeMessageStream, OpListStreams, OpAppendMessage, OpReadMessages,
}

// Error codes of the stream manager, besides the common ones in errors.go
// (InvalidArgumentsError for a bad request or definition,
// ResourceNotFoundError for an unknown stream, ServiceError). The names are
// the stream manager SDK's status codes with the IPC "Error" suffix.
const (
	// CodeNotEnoughMessages: ReadMessages found fewer than minMessageCount
	// messages before readTimeoutMillis ran out.
	CodeNotEnoughMessages = "NotEnoughMessagesError"
	// CodeStreamFull: the stream holds maxSize bytes and its strategyOnFull
	// is RejectNewData. Sward's own code: Greengrass reports this case
	// without a dedicated status.
	CodeStreamFull = "StreamFullError"
	// CodeRequestPayloadTooLarge: the appended payload is over the limit
	// (see MaxPayload in the stream manager's README).
	CodeRequestPayloadTooLarge = "RequestPayloadTooLargeError"
	// CodeResponsePayloadTooLarge: minMessageCount messages do not fit in one
	// response; ask for fewer.
	CodeResponsePayloadTooLarge = "ResponsePayloadTooLargeError"
	// CodeUpdateNotAllowed: UpdateMessageStream tried to change a field that
	// cannot change on an existing stream (persistence).
	CodeUpdateNotAllowed = "UpdateNotAllowedError"
)

// StrategyOnFull says what an append does when the stream holds maxSize bytes.
type StrategyOnFull string

const (
	// RejectNewData refuses the append with CodeStreamFull.
	RejectNewData StrategyOnFull = "RejectNewData"
	// OverwriteOldestData drops the oldest messages until the new one fits.
	OverwriteOldestData StrategyOnFull = "OverwriteOldestData"
)

// Persistence is where a stream keeps its messages.
type Persistence string

const (
	// PersistenceFile keeps messages on disk; they survive restarts. The
	// default.
	PersistenceFile Persistence = "File"
	// PersistenceMemory keeps messages in memory only; a restart of the
	// nucleus empties the stream.
	PersistenceMemory Persistence = "Memory"
)

// MessageStreamDefinition describes a stream. Zero numeric fields mean the
// default (maxSize 256 MiB, streamSegmentSize 16 MiB, no time to live);
// DescribeMessageStream reports the effective values.
type MessageStreamDefinition struct {
	// Name: 1-255 characters of ASCII letters, digits, space, ',', '.', '-'
	// and '_'.
	Name string `json:"name"`
	// MaxSize is the stream's size limit in bytes, at least 1024.
	MaxSize int64 `json:"maxSize,omitempty"`
	// StreamSegmentSize is accepted (1024 to 2^31-1) and reported for
	// Greengrass compatibility; JetStream sizes its own blocks.
	StreamSegmentSize int64 `json:"streamSegmentSize,omitempty"`
	// TimeToLiveMillis drops messages older than this, at least 60000.
	TimeToLiveMillis int64 `json:"timeToLiveMillis,omitempty"`
	// StrategyOnFull is required.
	StrategyOnFull StrategyOnFull `json:"strategyOnFull"`
	// Persistence defaults to File.
	Persistence Persistence `json:"persistence,omitempty"`
	// FlushOnWrite (File only) acknowledges an append only once it is on
	// disk (fsync'd).
	FlushOnWrite bool `json:"flushOnWrite,omitempty"`
	// ExportDefinition configures the exporters (streamexport.go).
	ExportDefinition *ExportDefinition `json:"exportDefinition,omitempty"`
}

// CreateMessageStreamRequest creates a stream; creating one that exists is
// an InvalidArgumentsError.
type CreateMessageStreamRequest struct {
	Definition MessageStreamDefinition `json:"definition"`
}

// CreateMessageStreamResponse is empty.
type CreateMessageStreamResponse struct{}

// UpdateMessageStreamRequest replaces an existing stream's definition.
type UpdateMessageStreamRequest struct {
	Definition MessageStreamDefinition `json:"definition"`
}

// UpdateMessageStreamResponse is empty.
type UpdateMessageStreamResponse struct{}

// DeleteMessageStreamRequest deletes a stream and its messages.
type DeleteMessageStreamRequest struct {
	StreamName string `json:"streamName"`
}

// DeleteMessageStreamResponse is empty.
type DeleteMessageStreamResponse struct{}

// DescribeMessageStreamRequest asks for a stream's MessageStreamInfo.
type DescribeMessageStreamRequest struct {
	StreamName string `json:"streamName"`
}

// MessageStreamInfo is the DescribeMessageStream response.
type MessageStreamInfo struct {
	Definition     MessageStreamDefinition `json:"definition"`
	StorageStatus  StorageStatus           `json:"storageStatus"`
	ExportStatuses []ExportStatus          `json:"exportStatuses,omitempty"`
}

// StorageStatus is a stream's size and sequence range. An empty stream has
// oldest = newest + 1.
type StorageStatus struct {
	OldestSequenceNumber int64 `json:"oldestSequenceNumber"`
	NewestSequenceNumber int64 `json:"newestSequenceNumber"`
	TotalBytes           int64 `json:"totalBytes"`
}

// ListStreamsRequest is empty.
type ListStreamsRequest struct{}

// ListStreamsResponse names every stream, sorted.
type ListStreamsResponse struct {
	Streams []string `json:"streams"`
}

// AppendMessageRequest appends one message; payload is base64 in JSON.
type AppendMessageRequest struct {
	StreamName string `json:"streamName"`
	Payload    []byte `json:"payload"`
}

// AppendMessageResponse carries the new message's sequence number.
type AppendMessageResponse struct {
	SequenceNumber int64 `json:"sequenceNumber"`
}

// ReadMessagesRequest reads messages from a stream.
type ReadMessagesRequest struct {
	StreamName          string              `json:"streamName"`
	ReadMessagesOptions ReadMessagesOptions `json:"readMessagesOptions"`
}

// ReadMessagesOptions: every field is optional.
type ReadMessagesOptions struct {
	// DesiredStartSequenceNumber is the first sequence number to read; one
	// below the oldest message reads from the oldest.
	DesiredStartSequenceNumber int64 `json:"desiredStartSequenceNumber,omitempty"`
	// MinMessageCount (default 1, at most 2147483647): fewer than this
	// after ReadTimeoutMillis is a NotEnoughMessagesError.
	MinMessageCount int64 `json:"minMessageCount,omitempty"`
	// MaxMessageCount (default MinMessageCount) caps the messages returned.
	MaxMessageCount int64 `json:"maxMessageCount,omitempty"`
	// ReadTimeoutMillis is how long to wait for MinMessageCount messages;
	// 0 returns at once.
	ReadTimeoutMillis int64 `json:"readTimeoutMillis,omitempty"`
}

// ReadMessagesResponse holds the messages read, in sequence order.
type ReadMessagesResponse struct {
	Messages []Message `json:"messages"`
}

// Message is one stored message.
type Message struct {
	StreamName     string `json:"streamName"`
	SequenceNumber int64  `json:"sequenceNumber"`
	// IngestTime is when the message was appended, in Unix milliseconds.
	IngestTime int64  `json:"ingestTime"`
	Payload    []byte `json:"payload"`
}
