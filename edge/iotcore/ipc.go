package iotcore

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds PublishToIoTCore and SubscribeToIoTCore to t. s may be
// nil, a nucleus without a link: then both answer ServiceError naming the
// configuration that starts one. Neither is fast: a QoS 1 publish waits
// for the spool, a subscription for IoT Core's SUBACK.
func (s *Service) RegisterIPC(t *op.Table) {
	t.Register(wire.OpPublishToIoTCore, op.Operation{Handle: s.publishToIoTCore})
	t.Register(wire.OpSubscribeToIoTCore, op.Operation{Handle: s.subscribeToIoTCore})
}

// answerWithin bounds how long an IoT Core operation waits for the spool
// or for IoT Core (a SUBACK, a QoS 0 send), below the Go client's default
// 5 s timeout: the caller gets an answer it can act on, not a timeout.
var answerWithin = 4 * time.Second // a variable for tests

// errNoLink is the answer of the IoT Core operations on a nucleus with no
// link configured, or whose link could not start.
func errNoLink(opName string) error {
	return wire.Errorf(wire.CodeService, "%s: this nucleus has no AWS IoT Core link: start it with `sward run --config FILE` where the file names "+
		"services.aws.greengrass.Nucleus.configuration.iotDataEndpoint and the device certificate (system.certificateFilePath, privateKeyPath, rootCaPath); "+
		"if it does, the nucleus log says why the link did not start", opName)
}

// ipcQoS reads Greengrass's QoS strings.
func ipcQoS(q string) (byte, error) {
	switch q {
	case wire.QoSAtMostOnce:
		return 0, nil
	case wire.QoSAtLeastOnce:
		return 1, nil
	case "":
		return 0, wire.Errorf(wire.CodeInvalidArguments, "qos is missing: send \"0\" (at most once) or \"1\" (at least once)")
	}
	return 0, wire.Errorf(wire.CodeInvalidArguments, "qos %q is not one IoT Core supports: send \"0\" (at most once) or \"1\" (at least once)", q)
}

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

// subscribeToIoTCore answers SubscribeToIoTCore: the messages on the filter
// go to the caller as IoTCoreMessage events (header HeaderTopicFilter names
// the filter) until its session ends. Subscribing to a filter it already
// has changes nothing.
func (s *Service) subscribeToIoTCore(ctx context.Context, c *op.Call) (any, error) {
	var req wire.SubscribeToIoTCoreRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	qos, err := ipcQoS(req.QoS)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(req.TopicName); err != nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "topicName: %v", err)
	}
	if err := c.Authorize(authz.ServiceMQTTProxy, c.Name, req.TopicName); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errNoLink(c.Name)
	}
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started || s.opts.Conn == nil {
		return nil, errNoLink(c.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, answerWithin)
	defer cancel()
	if err := s.ipcSubs.add(ctx, s, c.Caller, req.TopicName, qos); errors.Is(err, context.DeadlineExceeded) {
		return nil, wire.Errorf(wire.CodeService, "%s on %q: IoT Core did not answer the SUBSCRIBE within %s (see `sward cloud status`): retry", c.Name, req.TopicName, answerWithin)
	} else if err != nil {
		return nil, wire.Errorf(wire.CodeService, "%s on %q: %v", c.Name, req.TopicName, err)
	}
	return struct{}{}, nil
}

// Forget ends the IPC subscriptions of component, whose session ended:
// they belonged to its processes. s may be nil.
func (s *Service) Forget(component string) {
	if s == nil {
		return
	}
	s.ipcSubs.forget(component)
}

// ipcSubscriptions are the components' SubscribeToIoTCore subscriptions:
// one link subscription per component and filter.
type ipcSubscriptions struct {
	mu   sync.Mutex
	subs map[string]map[string]func(context.Context) error // component → filter → unsubscribe
}

func (p *ipcSubscriptions) add(ctx context.Context, s *Service, component, filter string, qos byte) error {
	p.mu.Lock()
	_, ok := p.subs[component][filter]
	p.mu.Unlock()
	if ok {
		return nil
	}
	subject := wire.EventSubject(component, wire.EventIoTCoreMessage)
	unsub, err := s.Subscribe(ctx, filter, qos, func(m Message) {
		data, err := json.Marshal(wire.IoTCoreMessage{Message: &wire.MQTTMessage{TopicName: m.Topic, Payload: m.Payload}})
		if err != nil {
			return
		}
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{wire.HeaderTopicFilter: []string{filter}}}
		if err := s.opts.Conn.PublishMsg(msg); err != nil {
			s.log.Warn("IoT Core message not delivered to a component", "component", component, "topic", m.Topic, "error", err)
		}
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.subs[component][filter]; ok {
		// The same subscription made meanwhile by a concurrent call: keep one.
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		_ = unsub(cancelled)
		return nil
	}
	if p.subs == nil {
		p.subs = map[string]map[string]func(context.Context) error{}
	}
	if p.subs[component] == nil {
		p.subs[component] = map[string]func(context.Context) error{}
	}
	p.subs[component][filter] = unsub
	return nil
}

func (p *ipcSubscriptions) forget(component string) {
	p.mu.Lock()
	subs := p.subs[component]
	delete(p.subs, component)
	p.mu.Unlock()
	// Forget runs on the supervisor's state callback: it does not wait for
	// IoT Core's UNSUBACK. With the context already ended, each unsubscribe
	// drops the filter from the link and sends UNSUBSCRIBE, and returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, unsub := range subs {
		_ = unsub(ctx)
	}
}
