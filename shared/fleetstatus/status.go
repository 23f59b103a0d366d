// Package fleetstatus is the fleet status message: what a device reports
// about its components on topics.FleetStatus (sward/<thing>/health), the
// cloud's fleet status rule event, and how both are checked. The device's
// edge/fleet writes it; the deployment-events Lambda reads it into the
// device status table. It plays the part of Greengrass's fleet status
// message ($aws/things/<thing>/greengrassv2/health/json): the same
// triggers, overall status and per-component name, version and state.
package fleetstatus

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/sward-iot/sward/shared/strictjson"
	"github.com/sward-iot/sward/shared/topics"
)

const (
	// FormatVersion is the message format this package reads and writes.
	FormatVersion = 1
	// MaxMessageSize is IoT Core's payload limit (128 KB).
	MaxMessageSize = 128 << 10
	// MaxComponents bounds the components one message lists; about 400
	// bytes each at most, they stay under MaxMessageSize.
	MaxComponents = 250
	// MaxReasonLength bounds a component's reason.
	MaxReasonLength = 256

	minTimestamp = topics.MinTimestampMs
	maxTimestamp = topics.MaxTimestampMs
)

// ErrInvalid is wrapped by every error about a message's content.
var ErrInvalid = strictjson.ErrInvalid

// Trigger is why the device sent the message (Greengrass's names).
type Trigger string

// The triggers.
const (
	NucleusLaunch   Trigger = "NUCLEUS_LAUNCH"   // the link came up after the nucleus started
	Deployment      Trigger = "DEPLOYMENT"       // a deployment ended
	BrokenComponent Trigger = "BROKEN_COMPONENT" // a component went BROKEN
	Cadence         Trigger = "CADENCE"          // the periodic report
)

// Triggers lists every Trigger.
var Triggers = []Trigger{NucleusLaunch, Deployment, BrokenComponent, Cadence}

// Overall status of a device: UNHEALTHY when any component is BROKEN or
// ERRORED.
const (
	Healthy   = "HEALTHY"
	Unhealthy = "UNHEALTHY"
)

// Component is one component on the device.
type Component struct {
	Name    string `json:"componentName,required" example:"\"com.example.Sensor\""`
	Version string `json:"version,required" example:"\"1.0.0\""`
	// State is the lifecycle state in Greengrass names (RUNNING, BROKEN, …).
	State  string `json:"state,required" example:"\"RUNNING\""`
	Reason string `json:"reason,omitempty"`
}

// Message is what a device publishes on sward/<thing>/health.
type Message struct {
	FormatVersion int     `json:"formatVersion,required"`
	Trigger       Trigger `json:"trigger,required" example:"\"DEPLOYMENT\""`
	// Overall is HEALTHY or UNHEALTHY.
	Overall string `json:"overallDeviceStatus,required" example:"\"HEALTHY\""`
	// Sequence grows by one with every message since the nucleus started.
	Sequence uint64 `json:"sequenceNumber,required"`
	// Timestamp is when the message was made, epoch milliseconds.
	Timestamp  int64       `json:"timestamp,required" example:"1767225600000"`
	Components []Component `json:"components,required"`
}

// Event is what the fleet status rule sends the deployment-events Lambda:
// the message, the thing from the topic and the receive time.
type Event struct {
	Message
	Thing      string `json:"thing,required"`
	ReceivedAt int64  `json:"receivedAt,required"`
}

// OverallOf is the overall status of components.
func OverallOf(cs []Component) string {
	for _, c := range cs {
		if c.State == "BROKEN" || c.State == "ERRORED" {
			return Unhealthy
		}
	}
	return Healthy
}

// Validate checks a message's values.
func (m *Message) Validate() error {
	var p strictjson.Problems
	if m.FormatVersion != FormatVersion {
		p.Add("formatVersion", "is %d; write %d", m.FormatVersion, FormatVersion)
	}
	if !slices.Contains(Triggers, m.Trigger) {
		p.Add("trigger", "%q is not a trigger; use one of %v", strictjson.Truncate(string(m.Trigger)), Triggers)
	}
	if m.Overall != Healthy && m.Overall != Unhealthy {
		p.Add("overallDeviceStatus", "%q is neither %s nor %s", strictjson.Truncate(m.Overall), Healthy, Unhealthy)
	}
	if m.Timestamp < minTimestamp || m.Timestamp >= maxTimestamp {
		p.Add("timestamp", "is %d; send the time in epoch milliseconds between 2000 and 2100", m.Timestamp)
	}
	if len(m.Components) > MaxComponents {
		p.Add("components", "lists %d components; at most %d fit one message", len(m.Components), MaxComponents)
	}
	for i, c := range m.Components {
		at := strictjson.Index("components", i)
		if c.Name == "" || len(c.Name) > 128 {
			p.Add(at+".componentName", "%q is not a component name (1 to 128 characters)", strictjson.Truncate(c.Name))
		}
		if c.Version == "" || len(c.Version) > 64 {
			p.Add(at+".version", "%q is not a version (1 to 64 characters)", strictjson.Truncate(c.Version))
		}
		if c.State == "" || len(c.State) > 32 {
			p.Add(at+".state", "%q is not a lifecycle state", strictjson.Truncate(c.State))
		}
		if n := utf8.RuneCountInString(c.Reason); n > MaxReasonLength {
			p.Add(at+".reason", "is %d characters; keep it to %d", n, MaxReasonLength)
		}
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
		return nil, fmt.Errorf("encode fleet status: %w", err)
	}
	return data, nil
}

// DecodeMessage decodes a device's message strictly.
func DecodeMessage(data []byte) (*Message, error) {
	var m Message
	if err := strictjson.DecodeValid(data, &m, options("the fleet status message")); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeEvent decodes a fleet status rule event strictly.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := strictjson.DecodeValid(data, &e, options("the fleet status rule event")); err != nil {
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
	return strictjson.Options{Name: name, MaxSize: MaxMessageSize + 1024, FormatVersion: FormatVersion}
}
