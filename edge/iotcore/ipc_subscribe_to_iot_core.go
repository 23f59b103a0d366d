package iotcore

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

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
