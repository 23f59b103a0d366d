package iotcore

import (
	"context"
	"errors"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// publishToIoTCore answers PublishToIoTCore. A QoS 1 message is answered
// once it is in the spool: from then on it survives outages and kill -9.
func (s *Service) publishToIoTCore(ctx context.Context, c *op.Call) (any, error) {
	var req wire.PublishToIoTCoreRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	qos, err := ipcQoS(req.QoS)
	if err != nil {
		return nil, err
	}
	if err := validateTopic(req.TopicName); err != nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "topicName: %v", err)
	}
	if len(req.Payload) > MaxPayload {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "payload is %d bytes; AWS IoT Core accepts at most %d (128 KB): split the message or send it through a stream export", len(req.Payload), MaxPayload)
	}
	if err := c.Authorize(authz.ServiceMQTTProxy, c.Name, req.TopicName); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errNoLink(c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, answerWithin)
	defer cancel()
	err = s.Publish(ctx, Message{Topic: req.TopicName, Payload: req.Payload, QoS: qos, Retain: req.Retain})
	switch {
	case err == nil:
		return struct{}{}, nil
	case errors.Is(err, ErrNotStarted):
		return nil, errNoLink(c.Name)
	case errors.Is(err, context.DeadlineExceeded):
		return nil, wire.Errorf(wire.CodeService, "%s on %q: not done within %s (the spool or IoT Core is slow; see `sward cloud status`): retry", c.Name, req.TopicName, answerWithin)
	}
	// Offline QoS 0 or a full spool: the caller can act on the message.
	return nil, wire.Errorf(wire.CodeService, "%s on %q: %v", c.Name, req.TopicName, err)
}
