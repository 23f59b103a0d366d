package ipc

// EventIoTCoreMessage is the event kind of SubscribeToIoTCore: one event per
// message IoT Core delivers on a subscribed topic filter.
const EventIoTCoreMessage = "IoTCoreMessage"

// HeaderTopicFilter is the NATS header of an IoTCoreMessage event naming the
// topic filter of the subscription it belongs to, so that a component with
// several (perhaps overlapping) subscriptions hands each message to the
// right one, once.
const HeaderTopicFilter = "Sward-Topic-Filter"

// QoS values of the IoT Core operations, as Greengrass spells them.
const (
	QoSAtMostOnce  = "0"
	QoSAtLeastOnce = "1"
)

// PublishToIoTCoreRequest publishes Payload (base64 in JSON) on TopicName
// through the nucleus's IoT Core connection. With QoS "1" the answer comes
// once the message is in the durable spool.
type PublishToIoTCoreRequest struct {
	TopicName string `json:"topicName"`
	QoS       string `json:"qos"`
	Payload   []byte `json:"payload,omitempty"`
	Retain    bool   `json:"retain,omitempty"`
}

// SubscribeToIoTCoreRequest subscribes the caller to TopicName (an MQTT
// topic filter, "+" and "#" allowed) at QoS "0" or "1"; messages arrive
// as IoTCoreMessage events.
type SubscribeToIoTCoreRequest struct {
	TopicName string `json:"topicName"`
	QoS       string `json:"qos"`
}

// IoTCoreMessage is the body of an IoTCoreMessage event.
type IoTCoreMessage struct {
	Message *MQTTMessage `json:"message,omitempty"`
}

// MQTTMessage is one message from IoT Core.
type MQTTMessage struct {
	TopicName string `json:"topicName"`
	Payload   []byte `json:"payload"`
}
