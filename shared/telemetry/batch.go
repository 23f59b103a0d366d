package telemetry

import (
	"encoding/base64"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/sward-iot/sward/shared/strictjson"
	"github.com/sward-iot/sward/shared/topics"
)

const (
	// FormatVersion is the format of every document of this package.
	FormatVersion = 1

	// MaxBatchSize is IoT Core's message size limit: a larger payload never
	// reaches the cloud, so a device must not build one.
	MaxBatchSize = 128 << 10

	// MaxRecords bounds one batch. A 128 KB batch of short records holds
	// about 2,000; 1,000 keeps one Lambda invocation's work and memory small
	// while a device batching once a minute can still send 16 metrics at 1 Hz.
	MaxRecords = 1000

	// MaxMetricLength bounds a metric name.
	MaxMetricLength = 128

	// MaxMessageIDLength bounds a batch's messageId: a UUID (36) or a
	// ULID (26) fits with room to spare.
	MaxMessageIDLength = 64

	// Timestamps are epoch milliseconds within these bounds; anything
	// outside is a clock or unit mistake.
	MinTimestamp = 946684800000  // 2000-01-01T00:00:00Z
	MaxTimestamp = 4102444800000 // 2100-01-01T00:00:00Z
)

// ErrInvalid is wrapped by every error about a document's content; errors
// are *strictjson.FieldError values naming the field path.
var ErrInvalid = strictjson.ErrInvalid

// ErrTooLarge is wrapped by the error for a document over its size limit.
var ErrTooLarge = strictjson.ErrTooLarge

// FieldError is one problem in one document.
type FieldError = strictjson.FieldError

// metricName reports whether every byte of s is a letter, digit, '.', ':',
// '_' or '-'. A loop, not a regexp: it runs for every record.
func metricName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == ':', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Batch is a device's telemetry message.
type Batch struct {
	FormatVersion int `json:"formatVersion"`
	// MessageID optionally names the message, 1 to MaxMessageIDLength
	// letters, digits, '.', ':', '_' and '-' (a UUID, a ULID, or
	// <boot id>:<sequence>). A device that sends a batch again (after a
	// lost PUBACK, a reconnect, a restart replaying its buffer) sends the
	// same id: the cloud archives a message under a key derived from its
	// thing, stream and id, so the copy overwrites the first instead of
	// adding duplicate rows, and the anomaly state counts it once. Without
	// an id the key is derived from the payload's bytes, which is the same
	// for a byte-identical re-send only.
	MessageID string   `json:"messageId,omitempty"`
	Records   []Record `json:"records"`
	// Rejected lists the records DecodeBatch left out of Records, with why.
	// It is never encoded.
	Rejected []Rejected `json:"-"`
}

// Record is one reading.
type Record struct {
	Metric string  `json:"metric,required" example:"\"temperature\""`
	Value  float64 `json:"value,required" example:"21.5"`
	// Timestamp is when the reading was taken, in epoch milliseconds.
	Timestamp int64 `json:"timestamp,required" example:"1767225600000"`
}

// Rejected is a record of a batch that is not valid.
type Rejected struct {
	// Index is the record's position in the batch's records list.
	Index int
	Err   error
}

// batchDoc is the wire shape: records stay undecoded so each is decoded
// (and may fail) on its own.
type batchDoc struct {
	FormatVersion int               `json:"formatVersion,required"`
	MessageID     string            `json:"messageId,omitempty" example:"\"0b8e7c1e-2f4a-4d6b-9a57-3c1f0e2d9b44\""`
	Records       []strictjson.Node `json:"records,required" example:"[{\"metric\": \"temperature\", \"value\": 21.5, \"timestamp\": 1767225600000}]"`
}

// DecodeBatch decodes a batch. It returns an error when data is not a
// batch; otherwise the good records are in Records and the bad ones in
// Rejected (a batch whose every record is bad is still a batch).
func DecodeBatch(data []byte) (*Batch, error) {
	var doc batchDoc
	err := strictjson.Decode(data, &doc, strictjson.Options{Name: "the telemetry batch", MaxSize: MaxBatchSize, FormatVersion: FormatVersion})
	if err != nil {
		return nil, err
	}
	switch {
	case len(doc.Records) == 0:
		return nil, &FieldError{Path: "records", Msg: "is empty; send at least one record, or nothing", Err: ErrInvalid}
	case len(doc.Records) > MaxRecords:
		return nil, &FieldError{Path: "records", Msg: fmt.Sprintf("has %d records, over the limit of %d; split the batch", len(doc.Records), MaxRecords), Err: ErrInvalid}
	}
	if msg := checkMessageID(doc.MessageID); msg != "" {
		return nil, &FieldError{Path: "messageId", Msg: msg, Err: ErrInvalid}
	}
	b := &Batch{FormatVersion: FormatVersion, MessageID: doc.MessageID, Records: make([]Record, 0, len(doc.Records))}
	for i, n := range doc.Records {
		var r Record
		err := n.Decode(&r)
		if err == nil {
			err = r.validate(n.Path())
		}
		if err != nil {
			b.Rejected = append(b.Rejected, Rejected{Index: i, Err: err})
			continue
		}
		b.Records = append(b.Records, r)
	}
	return b, nil
}

// Validate checks a batch built in code as DecodeBatch checks a decoded one.
func (b *Batch) Validate() error {
	var p strictjson.Problems
	if b.FormatVersion != FormatVersion {
		p.Add("formatVersion", "is %d; write %d", b.FormatVersion, FormatVersion)
	}
	if len(b.Records) == 0 || len(b.Records) > MaxRecords {
		p.Add("records", "has %d records; send 1 to %d", len(b.Records), MaxRecords)
	}
	if msg := checkMessageID(b.MessageID); msg != "" {
		p.Add("messageId", "%s", msg)
	}
	for i, r := range b.Records {
		p.Merge(r.validate(strictjson.Index("records", i)))
	}
	return p.Err()
}

// checkMessageID says what is wrong with an optional message id, or "".
func checkMessageID(id string) string {
	if id == "" || len(id) <= MaxMessageIDLength && metricName(id) {
		return ""
	}
	return fmt.Sprintf("%q is not a message id; use 1 to %d letters, digits, '.', ':', '_' and '-' (a UUID), or leave it out", strictjson.Truncate(id), MaxMessageIDLength)
}

// Encode validates the batch and returns its JSON, as a device publishes it.
func (b *Batch) Encode() ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	data, err := strictjson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode telemetry batch: %w", err)
	}
	if len(data) > MaxBatchSize {
		return nil, &FieldError{Msg: fmt.Sprintf("the telemetry batch is %d bytes, over IoT Core's %d-byte limit; send fewer records per batch", len(data), MaxBatchSize), Err: ErrTooLarge}
	}
	return data, nil
}

func (r Record) validate(path string) error {
	var p strictjson.Problems
	if err := ValidateMetric(r.Metric); err != nil {
		p.Add(strictjson.Field(path, "metric"), "%v", err)
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		p.Add(strictjson.Field(path, "value"), "is %v; send a finite number", r.Value)
	}
	if msg := checkTimestamp(r.Timestamp); msg != "" {
		p.Add(strictjson.Field(path, "timestamp"), "%s", msg)
	}
	return p.Err()
}

func checkTimestamp(ms int64) string {
	switch {
	case ms >= MinTimestamp/1000 && ms < MaxTimestamp/1000:
		return fmt.Sprintf("is %d, which looks like epoch seconds; send epoch milliseconds (%d000)", ms, ms)
	case ms < MinTimestamp || ms >= MaxTimestamp:
		return fmt.Sprintf("is %d; send the reading's time in epoch milliseconds between 2000 and 2100 (check the device clock)", ms)
	}
	return ""
}

// ValidateMetric returns an error unless name is a metric name: 1 to 128
// letters, digits, '.', ':', '_' and '-'.
func ValidateMetric(name string) error {
	if name == "" || len(name) > MaxMetricLength || !metricName(name) {
		return fmt.Errorf("%q is not a metric name; use 1 to %d letters, digits, '.', ':', '_' and '-'", strictjson.Truncate(name), MaxMetricLength)
	}
	return nil
}

// RuleEvent is what the telemetry IoT rule (topics.TelemetryRuleSQL) sends
// the telemetry Lambda.
type RuleEvent struct {
	// Data is the device's payload, decoded from base64. It is not checked:
	// DecodeBatch does that.
	Data []byte
	// Thing is topic(2), the publishing device.
	Thing string
	// Stream is topic(4).
	Stream string
	// ReceivedAt is when IoT Core received the message, in epoch ms.
	ReceivedAt int64
}

type ruleEventDoc struct {
	Data       string `json:"data,required"`
	Thing      string `json:"thing,required"`
	Stream     string `json:"stream,required"`
	ReceivedAt int64  `json:"receivedAt,required"`
}

// MaxRuleEventSize bounds a rule event: a base64 batch of MaxBatchSize plus
// the other fields, with room to spare. Lambda's own limit for an
// asynchronous event is 256 KB.
const MaxRuleEventSize = MaxBatchSize*4/3 + 4<<10

// DecodeRuleEvent decodes a telemetry rule event strictly.
func DecodeRuleEvent(data []byte) (*RuleEvent, error) {
	var doc ruleEventDoc
	if err := strictjson.Decode(data, &doc, strictjson.Options{Name: "the telemetry rule event", MaxSize: MaxRuleEventSize}); err != nil {
		return nil, err
	}
	var p strictjson.Problems
	if err := topics.ValidateThingName(doc.Thing); err != nil {
		p.Add("thing", "%v; the rule must select topic(2) AS thing", err)
	}
	if err := topics.ValidateStream(doc.Stream); err != nil {
		p.Add("stream", "%v; publish on %s", err, topics.Telemetry("<thing>", "<stream>"))
	}
	if doc.ReceivedAt < MinTimestamp || doc.ReceivedAt >= MaxTimestamp {
		p.Add("receivedAt", "is %d; the rule must select timestamp() AS receivedAt (epoch ms)", doc.ReceivedAt)
	}
	payload, err := base64.StdEncoding.DecodeString(doc.Data)
	if err != nil {
		p.Add("data", "is not base64 (%v); the rule must select encode(*, 'base64') AS data", err)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return &RuleEvent{Data: payload, Thing: doc.Thing, Stream: doc.Stream, ReceivedAt: doc.ReceivedAt}, nil
}

// NewBatch returns the batch of one reading taken at t: one record per
// metric, in metric-name order, all with t's epoch milliseconds. It is how
// a device with several measurements per instant (the sample
// SensorSimulator) speaks this contract; Encode validates the result.
func NewBatch(t time.Time, metrics map[string]float64) *Batch {
	names := make([]string, 0, len(metrics))
	for name := range metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	b := &Batch{FormatVersion: FormatVersion, Records: make([]Record, 0, len(names))}
	for _, name := range names {
		b.Records = append(b.Records, Record{Metric: name, Value: metrics[name], Timestamp: t.UnixMilli()})
	}
	return b
}
