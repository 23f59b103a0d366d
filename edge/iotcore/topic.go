package iotcore

import (
	"fmt"
	"strings"
)

// validateTopic checks a topic name a message is published on.
func validateTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("the topic is empty: name the topic to publish on")
	case len(topic) > MaxTopicBytes:
		return fmt.Errorf("topic %.40q… is %d bytes, over IoT Core's %d: shorten it", topic, len(topic), MaxTopicBytes)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("topic %q has a wildcard (+ or #): publish on a topic name, not a filter", topic)
	}
	return nil
}

// validateFilter checks a topic filter: + takes a whole level, # only the
// last one.
func validateFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("the topic filter is empty: name a topic or a filter such as sensors/+/temperature")
	}
	if len(filter) > MaxTopicBytes {
		return fmt.Errorf("topic filter %.40q… is %d bytes, over IoT Core's %d: shorten it", filter, len(filter), MaxTopicBytes)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: # must be a whole level and the last one", filter)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: + must be a whole level", filter)
		}
	}
	return nil
}

// matches reports whether topic matches filter (MQTT 3.1.1 §4.7; topics
// starting with $ are not matched by a leading wildcard).
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(t) || (l != "+" && l != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// Matches reports whether topic matches the MQTT topic filter (MQTT 3.1.1
// §4.7, as IoT Core and the local broker match): the one implementation,
// which edge/bridge uses too.
func Matches(filter, topic string) bool { return matches(filter, topic) }
