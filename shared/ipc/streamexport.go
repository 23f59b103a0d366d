package ipc

import (
	"fmt"
	"net/url"
	"strings"
)

// Export definitions: where and how a stream's messages leave the device.
// The field names are Greengrass's stream manager SDK names (KinesisConfig,
// HTTPConfig); S3 is Sward's batching S3 export, which has no Greengrass
// counterpart (Greengrass's s3TaskExecutor uploads files named by the
// messages, Sward's uploads the messages themselves). edge/stream/export
// runs the exports; its README says what each guarantees.

// Limits of an export definition. Greengrass's values unless said otherwise.
const (
	// MaxExportIdentifierLength is the longest export identifier.
	MaxExportIdentifierLength = 255
	// MaxKinesisBatchSize is PutRecords' limit of records per call.
	MaxKinesisBatchSize = 500
	// DefaultKinesisBatchSize is Greengrass's default: full PutRecords calls.
	DefaultKinesisBatchSize = MaxKinesisBatchSize
	// MaxHTTPBatchSize is Greengrass's HTTPConfig limit.
	MaxHTTPBatchSize = 500
	// DefaultHTTPBatchSize is Greengrass's default.
	DefaultHTTPBatchSize = MaxHTTPBatchSize
	// MaxS3BatchSize caps the messages of one S3 object: a batch is held in
	// memory while it uploads, and 10000 messages of the stream manager's
	// largest payload is what an edge device can hold.
	MaxS3BatchSize = 10_000
	// DefaultS3BatchSize makes objects of a useful size for typical
	// telemetry (about 1 KiB messages → 1 MiB objects) without holding much.
	DefaultS3BatchSize = 1000
	// MaxBatchIntervalMillis is the largest interval, as for
	// timeToLiveMillis: the largest millisecond count whose nanoseconds fit
	// in an int64. Sward has no minimum (Greengrass's is 60000): a short
	// interval costs requests, not correctness.
	MaxBatchIntervalMillis = 9_223_372_036_854
	// MinPriority and MaxPriority bound priority; 1 is the most urgent.
	// 0 (unset) is the lowest priority, as in Greengrass.
	MinPriority = 1
	MaxPriority = 10
	// MinS3MultipartThresholdBytes is S3's smallest multipart part, 5 MiB:
	// a smaller object gains nothing from a multipart upload.
	MinS3MultipartThresholdBytes = 5 << 20
	// DefaultS3MultipartThresholdBytes: objects of 16 MiB and more upload in
	// parts, so a lost connection repeats one part, not the object.
	DefaultS3MultipartThresholdBytes = 16 << 20
	// MaxS3KeyPrefixLength leaves room in S3's 1024-byte key for the stream
	// name (255) and the sequence range.
	MaxS3KeyPrefixLength = 700
)

// ExportFormat says how the HTTP export shapes its requests.
type ExportFormat string

const (
	// JSONBatched POSTs one JSON array of Message per batch. Sward's
	// default.
	JSONBatched ExportFormat = "JSON_BATCHED"
	// RawNotBatched POSTs each message's payload as the body of its own
	// request.
	RawNotBatched ExportFormat = "RAW_NOT_BATCHED"
)

// ExportDefinition lists a stream's exports. Identifiers are unique across
// all of them.
type ExportDefinition struct {
	Kinesis []KinesisConfig `json:"kinesis,omitempty"`
	HTTP    []HTTPConfig    `json:"http,omitempty"`
	S3      []S3Config      `json:"s3,omitempty"`
}

// ExportCommon holds the fields every export has. It is embedded, so the
// JSON fields appear inline.
type ExportCommon struct {
	// Identifier names the export: 1-255 ASCII letters, digits, space, ',',
	// '.', '-' and '_', unique within the stream.
	Identifier string `json:"identifier"`
	// BatchSize is the most messages sent in one request or object; 0 is
	// the destination's default.
	BatchSize int64 `json:"batchSize,omitempty"`
	// BatchIntervalMillis: a partial batch is sent once its oldest message
	// is this old. 0 sends what is there at once.
	BatchIntervalMillis int64 `json:"batchIntervalMillis,omitempty"`
	// Priority 1 (most urgent) to 10; 0 is the lowest. When exports wait
	// for an upload slot the most urgent goes first.
	Priority int64 `json:"priority,omitempty"`
	// StartSequenceNumber is the first sequence number exported; 0 starts at
	// the oldest message. It applies when the export is first created.
	StartSequenceNumber int64 `json:"startSequenceNumber,omitempty"`
	// Disabled pauses the export; it resumes where it stopped when enabled.
	Disabled bool `json:"disabled,omitempty"`
}

// KinesisConfig exports to a Kinesis data stream with PutRecords.
type KinesisConfig struct {
	ExportCommon
	// KinesisStreamName is the Kinesis data stream, in the device's region.
	KinesisStreamName string `json:"kinesisStreamName"`
}

// HTTPConfig POSTs batches to an HTTP endpoint.
type HTTPConfig struct {
	ExportCommon
	// URI is the absolute http or https URL the batches are POSTed to.
	URI string `json:"uri"`
	// ExportFormat is JSON_BATCHED (default) or RAW_NOT_BATCHED.
	ExportFormat ExportFormat `json:"exportFormat,omitempty"`
}

// S3Config writes batches of messages as S3 objects named
// <keyPrefix><streamName>/<first>-<last>.jsonl (sequence numbers zero-padded
// to 20 digits), one JSON Message per line.
type S3Config struct {
	ExportCommon
	// Bucket is the S3 bucket.
	Bucket string `json:"bucket"`
	// KeyPrefix starts every object key, e.g. "telemetry/".
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// MultipartThresholdBytes: objects of this size and more upload in
	// parts. 0 is DefaultS3MultipartThresholdBytes.
	MultipartThresholdBytes int64 `json:"multipartThresholdBytes,omitempty"`
}

// Validate checks every export and that identifiers are unique. The error
// names the field, e.g. exportDefinition.kinesis[0].batchSize.
func (d *ExportDefinition) Validate() error {
	seen := map[string]string{}
	check := func(field, id string, err error) error {
		if err != nil {
			return prefixError(field, err)
		}
		if prev, ok := seen[id]; ok {
			return Errorf(CodeInvalidArguments, "%s.identifier %q is also the identifier of %s: give each export its own identifier", field, id, prev)
		}
		seen[id] = field
		return nil
	}
	for i := range d.Kinesis {
		if err := check(fmt.Sprintf("exportDefinition.kinesis[%d]", i), d.Kinesis[i].Identifier, d.Kinesis[i].Validate()); err != nil {
			return err
		}
	}
	for i := range d.HTTP {
		if err := check(fmt.Sprintf("exportDefinition.http[%d]", i), d.HTTP[i].Identifier, d.HTTP[i].Validate()); err != nil {
			return err
		}
	}
	for i := range d.S3 {
		if err := check(fmt.Sprintf("exportDefinition.s3[%d]", i), d.S3[i].Identifier, d.S3[i].Validate()); err != nil {
			return err
		}
	}
	return nil
}

// prefixError puts field in front of a Validate error's message, which
// names the field relative to its config.
func prefixError(field string, err error) error {
	if e, ok := err.(*Error); ok {
		return &Error{Code: e.Code, Message: field + "." + e.Message}
	}
	return fmt.Errorf("%s.%w", field, err)
}

// Validate checks the fields of a Kinesis export.
func (c *KinesisConfig) Validate() error {
	if err := c.ExportCommon.validate(MaxKinesisBatchSize); err != nil {
		return err
	}
	if n := len(c.KinesisStreamName); n == 0 || n > 128 || !onlyChars(c.KinesisStreamName, "_.-") {
		return Errorf(CodeInvalidArguments, "kinesisStreamName %q is not a Kinesis stream name: use 1-128 ASCII letters, digits, '_', '.' and '-'", c.KinesisStreamName)
	}
	return nil
}

// Validate checks the fields of an HTTP export.
func (c *HTTPConfig) Validate() error {
	if err := c.ExportCommon.validate(MaxHTTPBatchSize); err != nil {
		return err
	}
	u, err := url.Parse(c.URI)
	if c.URI == "" {
		return Errorf(CodeInvalidArguments, "uri is empty: set the absolute http or https URL to POST batches to")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(CodeInvalidArguments, "uri %q is not an absolute http or https URL: write it as https://host[:port]/path", c.URI)
	}
	switch c.ExportFormat {
	case "", JSONBatched, RawNotBatched:
	default:
		return Errorf(CodeInvalidArguments, "exportFormat %q is not a format: use %q or %q", c.ExportFormat, JSONBatched, RawNotBatched)
	}
	return nil
}

// Validate checks the fields of an S3 export.
func (c *S3Config) Validate() error {
	if err := c.ExportCommon.validate(MaxS3BatchSize); err != nil {
		return err
	}
	b := c.Bucket
	if len(b) < 3 || len(b) > 63 || strings.ToLower(b) != b || !onlyChars(b, ".-") ||
		!isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return Errorf(CodeInvalidArguments, "bucket %q is not an S3 bucket name: use 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", b)
	}
	if len(c.KeyPrefix) > MaxS3KeyPrefixLength {
		return Errorf(CodeInvalidArguments, "keyPrefix is %d bytes long: use at most %d", len(c.KeyPrefix), MaxS3KeyPrefixLength)
	}
	if c.MultipartThresholdBytes != 0 && c.MultipartThresholdBytes < MinS3MultipartThresholdBytes {
		return Errorf(CodeInvalidArguments, "multipartThresholdBytes %d is below S3's smallest part, %d bytes: use at least %d, or 0 for the default %d", c.MultipartThresholdBytes, MinS3MultipartThresholdBytes, MinS3MultipartThresholdBytes, DefaultS3MultipartThresholdBytes)
	}
	return nil
}

// validate checks the common fields; maxBatch is the destination's limit.
func (c *ExportCommon) validate(maxBatch int64) error {
	if c.Identifier == "" {
		return Errorf(CodeInvalidArguments, "identifier is empty: name the export (1-%d ASCII letters, digits, space, ',', '.', '-', '_')", MaxExportIdentifierLength)
	}
	if len(c.Identifier) > MaxExportIdentifierLength || !onlyChars(c.Identifier, " ,.-_") {
		return Errorf(CodeInvalidArguments, "identifier %q is not valid: use 1-%d ASCII letters, digits, space, ',', '.', '-' and '_'", c.Identifier, MaxExportIdentifierLength)
	}
	if c.BatchSize < 0 || c.BatchSize > maxBatch {
		return Errorf(CodeInvalidArguments, "batchSize %d is out of range: use 1 to %d, or 0 for the default", c.BatchSize, maxBatch)
	}
	if c.BatchIntervalMillis < 0 || c.BatchIntervalMillis > MaxBatchIntervalMillis {
		return Errorf(CodeInvalidArguments, "batchIntervalMillis %d is out of range: use 0 (send at once) to %d", c.BatchIntervalMillis, int64(MaxBatchIntervalMillis))
	}
	if c.Priority != 0 && (c.Priority < MinPriority || c.Priority > MaxPriority) {
		return Errorf(CodeInvalidArguments, "priority %d is out of range: use %d (most urgent) to %d, or 0 for the lowest", c.Priority, MinPriority, MaxPriority)
	}
	if c.StartSequenceNumber < 0 {
		return Errorf(CodeInvalidArguments, "startSequenceNumber %d is negative: use 0 for the oldest message, or a sequence number", c.StartSequenceNumber)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// onlyChars reports whether s has only ASCII letters, digits and extra.
func onlyChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

// ExportStatus is one export's progress, as DescribeMessageStream reports it
// (Greengrass's field names).
type ExportStatus struct {
	ExportConfigIdentifier string `json:"exportConfigIdentifier"`
	// LastExportedSequenceNumber is the last message known to be at the
	// destination; 0 before the first.
	LastExportedSequenceNumber int64 `json:"lastExportedSequenceNumber"`
	// LastExportTime is when an export was last attempted, Unix ms.
	LastExportTime int64 `json:"lastExportTime,omitempty"`
	// ErrorMessage is the last attempt's error; empty when it succeeded.
	ErrorMessage string `json:"errorMessage,omitempty"`
	// ExportedBytesFromStream and ExportedMessagesCount count payload bytes
	// and messages exported since the nucleus started.
	ExportedBytesFromStream int64 `json:"exportedBytesFromStream"`
	ExportedMessagesCount   int64 `json:"exportedMessagesCount"`
}

// ExportResult is the outcome of an export attempt.
type ExportResult string

const (
	ExportSuccess ExportResult = "Success"
	ExportFailure ExportResult = "Failure"
)

// ExportAttempt is the status stream record of one export attempt: one
// batch sent (or failed) to one destination.
type ExportAttempt struct {
	StreamName       string `json:"streamName"`
	ExportIdentifier string `json:"exportIdentifier"`
	// ExportType is "kinesis", "http" or "s3".
	ExportType string `json:"exportType"`
	// Destination is the Kinesis stream, the URI, or s3://bucket/key.
	Destination         string       `json:"destination"`
	FirstSequenceNumber int64        `json:"firstSequenceNumber"`
	LastSequenceNumber  int64        `json:"lastSequenceNumber"`
	MessageCount        int          `json:"messageCount"`
	Status              ExportResult `json:"status"`
	ErrorMessage        string       `json:"errorMessage,omitempty"`
	// TimestampEpochMs is when the attempt ended.
	TimestampEpochMs int64 `json:"timestampEpochMs"`
}
