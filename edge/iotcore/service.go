package iotcore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/shared/topics"
)

// Errors Publish and Subscribe return; each is wrapped with the details.
var (
	// ErrPayloadTooLarge: the payload is over MaxPayload.
	ErrPayloadTooLarge = errors.New("payload too large for AWS IoT Core")
	// ErrOffline: a QoS 0 message while offline, with KeepQoS0WhenOffline off.
	ErrOffline = errors.New("not connected to AWS IoT Core")
	// ErrNotStarted: the service is not running.
	ErrNotStarted = errors.New("the IoT Core connection is not running")
)

// Message is a message from or for IoT Core.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Handler receives the messages of a subscription. It runs on the
// connection's delivery goroutine, in arrival order: it must not block.
type Handler func(Message)

// Service is the connection to AWS IoT Core: one MQTT connection that
// carries the publishes and the first MaxSubscriptions subscriptions, and
// more connections for further subscriptions. QoS 1 publishes go through
// the spool. Its methods are safe for concurrent use.
//
// Goroutines (all ended by Shutdown): one per connection (connect,
// reconnect, resubscribe), the primary connection's sender and its PUBACK
// waiter while connected, and the spool trimmer.
type Service struct {
	opts    Options
	log     *slog.Logger
	tls     *tls.Config
	limiter *rate.Limiter

	spool   *spool.Spool
	ctx     context.Context // ends at Shutdown
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	trimmed chan struct{} // wakes the trimmer: acked advanced

	mu      sync.Mutex
	started bool
	conns   []*conn
	subs    map[string]*subscription
	nextID  int
	acked   uint64 // every spooled message up to here was acknowledged
	// headSeq is the oldest unacknowledged message a connection ended
	// with in flight, headTries how many connections in a row did.
	headSeq   uint64
	headTries int
	lastErr   string
	errAt     time.Time
	// lastDrop says which spooled message was last dropped, and why.
	lastDrop string
	dropAt   time.Time

	published, connects, connErrors, dropped atomic.Uint64

	ipcSubs ipcSubscriptions // the components' SubscribeToIoTCore (ipc.go)
}

// subscription is one topic filter and its handlers, on one connection.
type subscription struct {
	filter   string
	qos      byte
	conn     *conn
	handlers map[int]Handler
}

// New validates opts and loads the certificates. It starts nothing.
func New(opts Options) (*Service, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	limit := rate.Limit(opts.PublishRate)
	burst := int(math.Max(1, opts.PublishRate))
	if opts.PublishRate < 0 {
		limit, burst = rate.Inf, 1
	}
	s := &Service{
		opts:    opts,
		log:     opts.Logger.With("service", "iotcore"),
		tls:     cfg,
		limiter: rate.NewLimiter(limit, burst),
		subs:    map[string]*subscription{},
		trimmed: make(chan struct{}, 1),
	}
	s.conns = []*conn{{s: s, clientID: opts.ThingName, primary: true, filters: map[string]bool{}}}
	return s, nil
}

// Name is the service's name in the nucleus's list.
func (s *Service) Name() string { return "iotcore" }

// Start opens the spool and starts connecting; it does not wait for the
// connection.
func (s *Service) Start(ctx context.Context) error {
	so := s.opts.Spool
	so.JetStream = s.opts.JetStream
	so.Logger = s.log
	sp, err := spool.Open(ctx, so)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spool = sp
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.started = true
	s.wg.Add(1)
	go s.trim()
	for _, c := range s.conns {
		s.runConn(c)
	}
	s.log.Info("connecting to AWS IoT Core", "endpoint", s.opts.address(), "clientId", s.opts.ThingName, "spoolMaxBytes", sp.MaxBytes())
	return nil
}

// runConn starts c's goroutine; s.mu is held.
func (s *Service) runConn(c *conn) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); c.run(s.ctx) }()
}

// Shutdown disconnects and waits for every goroutine of the service. What
// is spooled stays spooled for the next start.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = false
	s.cancel()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("iotcore shutdown: %w", ctx.Err())
	}
}

// Publish sends a message to IoT Core. A QoS 1 message is spooled: when
// Publish returns nil it is stored durably (see edge/spool) and will be
// delivered at least once, in order, even across outages and restarts. A
// QoS 0 message is sent at once when connected; offline it is spooled
// with KeepQoS0WhenOffline, or refused with ErrOffline.
func (s *Service) Publish(ctx context.Context, m Message) error {
	if len(m.Payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes on topic %q, IoT Core accepts at most %d (128 KB): split the message or send it through a stream export (S3)", ErrPayloadTooLarge, len(m.Payload), m.Topic, MaxPayload)
	}
	if err := validateTopic(m.Topic); err != nil {
		return err
	}
	if m.QoS > 1 {
		return fmt.Errorf("QoS %d on topic %q: IoT Core supports QoS 0 and 1", m.QoS, m.Topic)
	}
	s.mu.Lock()
	started, sp, client := s.started, s.spool, s.conns[0].client
	s.mu.Unlock()
	if !started {
		return ErrNotStarted
	}
	if m.QoS == 0 && client != nil {
		if err := s.limiter.Wait(ctx); err != nil {
			return err
		}
		tok := client.Publish(m.Topic, 0, m.Retain, m.Payload)
		select {
		case <-tok.Done():
			if err := tok.Error(); err == nil {
				s.published.Add(1)
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		// Lost the link meanwhile: as offline.
	}
	if m.QoS == 0 && !s.opts.KeepQoS0WhenOffline {
		s.dropped.Add(1)
		return fmt.Errorf("%w: QoS 0 message on %q dropped (spooler.keepQos0WhenOffline is false; publish with QoS 1 to have it kept)", ErrOffline, m.Topic)
	}
	_, err := sp.Add(ctx, spool.Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain})
	return err
}

// Subscribe delivers the messages matching filter to h until the returned
// function is called. When connected it returns after IoT Core granted
// the subscription (an error when it refused it); offline the
// subscription is made when the connection comes up.
func (s *Service) Subscribe(ctx context.Context, filter string, qos byte, h Handler) (unsubscribe func(context.Context) error, err error) {
	if err := validateFilter(filter); err != nil {
		return nil, err
	}
	if qos > 1 {
		return nil, fmt.Errorf("QoS %d for %q: IoT Core supports QoS 0 and 1", qos, filter)
	}
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	sub := s.subs[filter]
	if sub != nil {
		sub.handlers[id] = h
		s.mu.Unlock()
		return s.unsubscriber(filter, id), nil
	}
	c := s.connWithRoom()
	sub = &subscription{filter: filter, qos: qos, conn: c, handlers: map[int]Handler{id: h}}
	s.subs[filter] = sub
	c.filters[filter] = false
	client := c.client
	s.mu.Unlock()
	if client != nil {
		refused, err := c.subscribe(ctx, client, []string{filter})
		if err == nil && len(refused) > 0 {
			err = fmt.Errorf("IoT Core refused the subscription to %q: the device's IoT policy must allow iot:Subscribe on topicfilter/<filter> and iot:Receive on topic/<topic>", filter)
		}
		if err != nil {
			s.mu.Lock()
			delete(sub.handlers, id)
			if len(sub.handlers) == 0 {
				delete(s.subs, filter)
				delete(c.filters, filter)
			}
			s.mu.Unlock()
			return nil, err
		}
	}
	return s.unsubscriber(filter, id), nil
}

// connWithRoom is the first connection with fewer than MaxSubscriptions
// filters, a new one when all are full; s.mu is held.
func (s *Service) connWithRoom() *conn {
	for _, c := range s.conns {
		if len(c.filters) < s.opts.MaxSubscriptions {
			return c
		}
	}
	c := &conn{s: s, clientID: fmt.Sprintf("%s#%d", s.opts.ThingName, len(s.conns)+1), filters: map[string]bool{}}
	s.conns = append(s.conns, c)
	s.log.Info("opening another IoT Core connection: the others have the most subscriptions a connection may have",
		"clientId", c.clientID, "maxSubscriptions", s.opts.MaxSubscriptions)
	if s.started {
		s.runConn(c)
	}
	return c
}

func (s *Service) unsubscriber(filter string, id int) func(context.Context) error {
	return func(ctx context.Context) error {
		s.mu.Lock()
		sub := s.subs[filter]
		if sub == nil || sub.handlers[id] == nil {
			s.mu.Unlock()
			return nil
		}
		delete(sub.handlers, id)
		if len(sub.handlers) > 0 {
			s.mu.Unlock()
			return nil
		}
		delete(s.subs, filter)
		delete(sub.conn.filters, filter)
		client := sub.conn.client
		s.mu.Unlock()
		if client == nil {
			return nil // the next session starts without it; a kept session may still deliver, and dispatch drops it
		}
		tok := client.Unsubscribe(filter)
		select {
		case <-tok.Done():
			return tok.Error()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// dispatch hands an incoming message to the handlers of every matching
// subscription.
func (s *Service) dispatch(m Message) {
	s.mu.Lock()
	var hs []Handler
	for f, sub := range s.subs {
		if matches(f, m.Topic) {
			for _, h := range sub.handlers {
				hs = append(hs, h)
			}
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		h(m)
	}
}

// acknowledged records that every spooled message up to seq is done
// with (published: it has its PUBACK) and wakes the trimmer.
func (s *Service) acknowledged(seq uint64, published bool) {
	s.mu.Lock()
	if seq > s.acked {
		s.acked = seq
	}
	s.mu.Unlock()
	if published {
		s.published.Add(1)
	}
	select {
	case s.trimmed <- struct{}{}:
	default:
	}
}

// trim removes acknowledged messages from the spool, one purge for all
// that were acknowledged since the last.
func (s *Service) trim() {
	defer s.wg.Done()
	var done uint64
	for {
		select {
		case <-s.ctx.Done():
			s.trimTo(&done, context.Background()) // keep what was acknowledged out of the next start
			return
		case <-s.trimmed:
		}
		s.trimTo(&done, s.ctx)
	}
}

func (s *Service) trimTo(done *uint64, ctx context.Context) {
	s.mu.Lock()
	upTo := s.acked
	s.mu.Unlock()
	if upTo <= *done {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.spool.Remove(ctx, upTo); err != nil {
		s.log.Warn("acknowledged messages stay in the spool (they will be sent again)", "error", err)
		return
	}
	*done = upTo
}

// State is what the connection to IoT Core looks like now.
type State struct {
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connectedSince,omitzero"`
	Endpoint       string    `json:"endpoint"`
	ClientID       string    `json:"clientId"`
	// Connections is how many MQTT connections the service has (more than
	// one when the subscriptions exceed one connection's quota).
	Connections int       `json:"connections"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// LastDrop names the last spooled message dropped because IoT Core
	// would not take it (MaxPublishRetry), and why.
	LastDrop   string    `json:"lastDrop,omitempty"`
	LastDropAt time.Time `json:"lastDropAt,omitzero"`
	// SpoolMessages and SpoolBytes are what waits in the spool (-1 when
	// the spool could not be read); SpoolMaxBytes is its bound.
	SpoolMessages int64 `json:"spoolMessages"`
	SpoolBytes    int64 `json:"spoolBytes"`
	SpoolMaxBytes int64 `json:"spoolMaxBytes"`
}

// State returns the connection's state, with the spool's depth.
func (s *Service) State(ctx context.Context) State {
	s.mu.Lock()
	c := s.conns[0]
	st := State{
		Connected:      c.client != nil,
		ConnectedSince: c.since,
		Endpoint:       s.opts.address(),
		ClientID:       c.clientID,
		Connections:    len(s.conns),
		LastError:      s.lastErr,
		LastErrorAt:    s.errAt,
		LastDrop:       s.lastDrop,
		LastDropAt:     s.dropAt,
		SpoolMaxBytes:  s.opts.Spool.MaxBytes,
	}
	sp := s.spool
	s.mu.Unlock()
	st.SpoolMessages, st.SpoolBytes = -1, -1
	if sp != nil {
		st.SpoolMaxBytes = sp.MaxBytes()
		if stats, err := sp.Stats(ctx); err == nil {
			st.SpoolMessages, st.SpoolBytes = int64(stats.Messages), int64(stats.Bytes)
		}
	}
	return st
}

// setError records err as the last error.
func (s *Service) setError(err error) {
	s.mu.Lock()
	s.lastErr, s.errAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// announce publishes the state on the local bus.
func (s *Service) announce() {
	if s.opts.Conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	data, _ := json.Marshal(s.State(ctx))
	if err := s.opts.Conn.Publish(topics.CloudLinkStateSubject, data); err != nil {
		s.log.Warn("cloud link state event not published", "error", err)
	}
}
