package deploymentstatus

import (
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/strictjson"
	"github.com/sward-iot/sward/shared/topics"
)

const (
	// FormatVersion is the message format this package reads and writes.
	FormatVersion = 1

	// MaxReasonLength is the IoT Jobs limit on a statusDetails value, so a
	// reason can be copied there unchanged.
	MaxReasonLength = 1024

	// MaxMessageSize bounds a message and a rule event: a 1024-character
	// reason of 4-byte characters is 4 KB, and the rest is small.
	MaxMessageSize = 8 << 10

	// Timestamps are epoch milliseconds within these bounds; anything
	// outside is a clock or unit mistake.
	minTimestamp = topics.MinTimestampMs
	maxTimestamp = topics.MaxTimestampMs
)

// ErrInvalid is wrapped by every error about a message's content; errors
// are *strictjson.FieldError values naming the field path.
var ErrInvalid = strictjson.ErrInvalid

// FieldError is one problem in one message.
type FieldError = strictjson.FieldError

// Status is the IoT Jobs execution status a device reports.
type Status string

// The statuses a device may report.
const (
	InProgress Status = "IN_PROGRESS"
	Succeeded  Status = "SUCCEEDED"
	Failed     Status = "FAILED"
	Rejected   Status = "REJECTED"
)

// Statuses lists every Status.
var Statuses = []Status{InProgress, Succeeded, Failed, Rejected}

// Terminal reports whether s ends the device's part in the job.
func (s Status) Terminal() bool { return s == Succeeded || s == Failed || s == Rejected }

func (s Status) valid() bool {
	switch s {
	case InProgress, Succeeded, Failed, Rejected:
		return true
	}
	return false
}

// jobIDChars is the IoT Jobs jobId pattern (1 to 64 characters).
var jobIDChars = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Message is what a device publishes on sward/<thing>/deployments/status.
type Message struct {
	FormatVersion int    `json:"formatVersion,required"`
	JobID         string `json:"jobId,required" example:"\"sward-3f2a…\""`
	Status        Status `json:"status,required" example:"\"SUCCEEDED\""`
	// Detail is the device engine's state (deployment.State), optional.
	Detail deployment.State `json:"detail,omitempty" example:"\"ROLLED_BACK\""`
	Reason string           `json:"reason,omitempty"`
	// Timestamp is when the state changed, epoch milliseconds.
	Timestamp int64 `json:"timestamp,required" example:"1767225600000"`
}

// Event is what the deployment status rule sends the deployment-events
// Lambda: the message, the thing from the topic and the receive time.
type Event struct {
	Message
	Thing      string `json:"thing,required"`
	ReceivedAt int64  `json:"receivedAt,required"`
}

// DecodeMessage decodes a device's message strictly.
func DecodeMessage(data []byte) (*Message, error) {
	var m Message
	if err := strictjson.DecodeValid(data, &m, options("the deployment status message")); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeEvent decodes a deployment status rule event strictly.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := strictjson.DecodeValid(data, &e, options("the deployment status rule event")); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the message and what the rule added to it.
func (e *Event) Validate() error {
	var p strictjson.Problems
	p.Merge(e.Message.Validate())
	topics.CheckRuleEvent(&p, e.Thing, e.ReceivedAt)
	return p.Err()
}

func options(name string) strictjson.Options {
	return strictjson.Options{Name: name, MaxSize: MaxMessageSize, FormatVersion: FormatVersion}
}

// Validate checks a message's values.
func (m *Message) Validate() error {
	var p strictjson.Problems
	if m.FormatVersion != FormatVersion {
		p.Add("formatVersion", "is %d; write %d", m.FormatVersion, FormatVersion)
	}
	if len(m.JobID) > 64 || !jobIDChars.MatchString(m.JobID) {
		p.Add("jobId", "%q is not a job id; send the IoT job id the deployment came in, 1 to 64 letters, digits, '-' and '_'", strictjson.Truncate(m.JobID))
	}
	if !m.Status.valid() {
		p.Add("status", "%q is not a status a device reports; use %s, %s, %s or %s", strictjson.Truncate(string(m.Status)), InProgress, Succeeded, Failed, Rejected)
	}
	if m.Detail != "" && !slices.Contains(deployment.States, m.Detail) {
		p.Add("detail", "%q is not a deployment state; use one of %v, or leave it out", strictjson.Truncate(string(m.Detail)), deployment.States)
	}
	if n := utf8.RuneCountInString(m.Reason); n > MaxReasonLength {
		p.Add("reason", "is %d characters; keep it to %d (the IoT Jobs statusDetails limit)", n, MaxReasonLength)
	}
	if m.Timestamp < minTimestamp || m.Timestamp >= maxTimestamp {
		p.Add("timestamp", "is %d; send the time of the change in epoch milliseconds between 2000 and 2100", m.Timestamp)
	}
	return p.Err()
}

// Encode validates the message and returns its JSON.
func (m *Message) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	data, err := strictjson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode deployment status: %w", err)
	}
	return data, nil
}

// FromDeployment builds the message a device sends for its engine's
// deployment record s, stamped at. The job id is s.DeploymentID (a cloud
// deployment's id is its job id). States map onto job statuses so that the
// cloud counts what a device did:
//
//	QUEUED, IN_PROGRESS                  → IN_PROGRESS
//	SUCCEEDED                            → SUCCEEDED
//	FAILED before it started             → REJECTED (nothing changed)
//	FAILED, ROLLED_BACK                  → FAILED
//	CANCELED, SUPERSEDED                 → REJECTED (the device did not apply it)
//
// detail keeps the engine's own state and reason is truncated to
// MaxReasonLength characters.
func FromDeployment(s deployment.Status, at time.Time) Message {
	m := Message{
		FormatVersion: FormatVersion,
		JobID:         s.DeploymentID,
		Detail:        s.State,
		Reason:        truncateRunes(s.Reason, MaxReasonLength),
		Timestamp:     at.UnixMilli(),
	}
	switch s.State {
	case deployment.Queued, deployment.InProgress:
		m.Status = InProgress
	case deployment.Succeeded:
		m.Status = Succeeded
	case deployment.Failed:
		m.Status = Failed
		if s.StartedAt.IsZero() {
			m.Status = Rejected
		}
	case deployment.RolledBack:
		m.Status = Failed
	default: // Canceled, Superseded
		m.Status = Rejected
	}
	return m
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
