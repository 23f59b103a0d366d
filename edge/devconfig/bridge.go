package devconfig

import "sort"

// BridgeService is Greengrass's MQTT bridge component, whose
// configuration the file may carry under services (the nucleus runs the
// bridge itself: edge/bridge).
const BridgeService = "aws.greengrass.clientdevices.mqtt.Bridge"

// BridgePath is the bridge configuration's path, for messages.
const BridgePath = "services." + BridgeService + ".configuration"

// Bridge is services.aws.greengrass.clientdevices.mqtt.Bridge.configuration.
type Bridge struct {
	// MQTTTopicMapping is Greengrass's mqttTopicMapping: mappings by name.
	MQTTTopicMapping map[string]TopicMapping `yaml:"mqttTopicMapping,omitempty"`
	// BrokerURI, BrokerClientID and StartupTimeoutSeconds are how
	// Greengrass's bridge reaches its separate MQTT broker; read and not
	// used, since Sward's bridge is inside the nucleus, beside the broker.
	BrokerURI             string `yaml:"brokerUri,omitempty"`
	BrokerClientID        string `yaml:"brokerClientId,omitempty"`
	StartupTimeoutSeconds int    `yaml:"startupTimeoutSeconds,omitempty"`
}

// TopicMapping is one entry of mqttTopicMapping. Its fields are those of
// bridge.Mapping, in the same order, so one converts to the other.
type TopicMapping struct {
	// Name is the entry's key (TopicMappings sets it).
	Name string `yaml:"-"`
	// Topic is an MQTT topic filter.
	Topic string `yaml:"topic"`
	// Source and Target are LocalMqtt, Pubsub or IotCore.
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	// TargetTopicPrefix goes in front of the topic at the target.
	TargetTopicPrefix string `yaml:"targetTopicPrefix,omitempty"`
}

// TopicMappings returns the bridge's mappings ordered by name, each with
// its Name set; edge/bridge validates them.
func (f *File) TopicMappings() []TopicMapping {
	out := make([]TopicMapping, 0, len(f.Bridge.MQTTTopicMapping))
	for name, m := range f.Bridge.MQTTTopicMapping {
		m.Name = name
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
