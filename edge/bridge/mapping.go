package bridge

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sward-iot/sward/edge/iotcore"
)

// The places a mapping reads from and writes to, spelled as Greengrass's
// aws.greengrass.clientdevices.mqtt.Bridge spells them.
const (
	// LocalMqtt is the local broker as MQTT clients (sensors, client
	// devices) see it.
	LocalMqtt = "LocalMqtt"
	// Pubsub is the local broker as components see it (IPC
	// PublishToTopic/SubscribeToTopic). In Sward it is the same broker as
	// LocalMqtt: both read and write the same subjects.
	Pubsub = "Pubsub"
	// IotCore is AWS IoT Core, through the nucleus's link (edge/iotcore).
	IotCore = "IotCore"
)

// Mapping is one entry of Greengrass's mqttTopicMapping: messages on
// Topic (an MQTT filter, + and # allowed) at Source are sent to Target on
// TargetTopicPrefix + their topic.
type Mapping struct {
	// Name is the mapping's key in mqttTopicMapping, used in messages.
	Name string
	// Topic is the MQTT topic filter the source is subscribed to.
	Topic string
	// Source and Target are LocalMqtt, Pubsub or IotCore.
	Source, Target string
	// TargetTopicPrefix is put in front of the message's topic at the
	// target; empty: the same topic.
	TargetTopicPrefix string
}

// ErrInvalidMapping is wrapped by every error Validate returns.
var ErrInvalidMapping = errors.New("invalid MQTT bridge mapping")

// isLocal reports whether e is the local broker (LocalMqtt or Pubsub).
func isLocal(e string) bool { return e == LocalMqtt || e == Pubsub }

// idle reports whether m moves nothing: between LocalMqtt and Pubsub with
// no prefix, the message is already where it would be sent (Greengrass's
// documented examples have such mappings, for its two local buses).
func (m Mapping) idle() bool {
	return isLocal(m.Source) && isLocal(m.Target) && m.TargetTopicPrefix == ""
}

// usesIoTCore reports whether m reads or writes IoT Core.
func (m Mapping) usesIoTCore() bool { return m.Source == IotCore || m.Target == IotCore }

// Validate checks every mapping and returns all problems at once, each
// naming the mapping and the field.
func Validate(mappings []Mapping) error {
	var errs []error
	names := map[string]bool{}
	for _, m := range mappings {
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%w %q: %s: %s", ErrInvalidMapping, m.Name, field, fmt.Sprintf(format, args...)))
		}
		if m.Name == "" {
			bad("name", "empty: give each mapping a name (its key under mqttTopicMapping)")
		} else if names[m.Name] {
			bad("name", "used twice: give each mapping its own name")
		}
		names[m.Name] = true
		for _, f := range []struct{ field, value string }{{"source", m.Source}, {"target", m.Target}} {
			if f.value != LocalMqtt && f.value != Pubsub && f.value != IotCore {
				bad(f.field, "%q is not one: use LocalMqtt, Pubsub or IotCore", f.value)
			}
		}
		if m.Source == m.Target {
			bad("target", "%s is also the source: a mapping moves messages from one place to another", m.Target)
		}
		if err := validateFilter(m.Topic); err != nil {
			bad("topic", "%v", err)
		}
		if strings.ContainsAny(m.TargetTopicPrefix, "+#\x00") {
			bad("targetTopicPrefix", "%q has a wildcard (+ or #) or NUL: a prefix is the literal start of a topic", m.TargetTopicPrefix)
		}
	}
	return errors.Join(errs...)
}

// validateFilter checks an MQTT topic filter: not empty, + and # only as
// whole levels, # only last.
func validateFilter(f string) error {
	if f == "" {
		return errors.New("empty: give an MQTT topic filter such as sensors/+/temperature or status/#")
	}
	if strings.ContainsRune(f, 0) {
		return fmt.Errorf("%q has a NUL character", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q has # before the last level: # stands for the rest of the topic", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("%q has a wildcard inside a level: + and # stand for whole levels (a/+/c, a/#)", f)
		}
	}
	return nil
}

// matches reports whether topic matches the MQTT filter f: a filter
// starting with a wildcard does not match a topic starting with $.
var matches = iotcore.Matches

// sorted returns the mappings ordered by name, so start-up and logs do
// not depend on map order in the file.
func sorted(ms []Mapping) []Mapping {
	out := append([]Mapping(nil), ms...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The local broker is nats-server: an MQTT topic is a NATS subject with
// "/" as "." (edge/broker README, "MQTT topics and NATS subjects"), a "."
// inside a level as "//" and an empty level as "/".

// subject is the NATS subject of an MQTT topic.
func subject(topic string) string {
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		if l == "" {
			levels[i] = "/"
		} else {
			levels[i] = strings.ReplaceAll(l, ".", "//")
		}
	}
	return strings.Join(levels, ".")
}

// topicOf is the MQTT topic of a NATS subject, subject's inverse.
func topicOf(subj string) string {
	levels := strings.Split(subj, ".")
	for i, l := range levels {
		if l == "/" {
			levels[i] = ""
		} else {
			levels[i] = strings.ReplaceAll(l, "//", ".")
		}
	}
	return strings.Join(levels, "/")
}

// subjects are the NATS subjects that together cover the MQTT filter f:
// + is *, and a/# is a and a.> (MQTT's # also matches the parent level),
// as nats-server subscribes for its own MQTT clients.
func subjects(f string) []string {
	if f == "#" {
		return []string{">"}
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch l {
		case "+":
			levels[i] = "*"
		case "#":
			levels[i] = ">"
		default:
			levels[i] = subject(l)
		}
	}
	s := strings.Join(levels, ".")
	if parent, ok := strings.CutSuffix(s, ".>"); ok {
		return []string{parent, s}
	}
	return []string{s}
}
