package bridge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/iotcore"
)

// Header marks a message the bridge published on the local broker; its
// value is the mapping's name. The local sources skip such messages, so a
// message bridged in is never bridged out again.
const Header = "Sward-Bridge"

// maxEchoes bounds the IoT Core publishes remembered so that their echo
// is not bridged back (see echoes): 10,000 keys of about 40 bytes, while
// IoT Core's 100 publishes/s per connection bring an echo within a few
// seconds when the link is up. A spool holding more than this while
// offline lets the oldest echoes through (each at most once, never a
// loop, since the local source skips what the bridge published).
const maxEchoes = 10000

// flushTimeout bounds the round trip that confirms the local
// subscriptions: the broker is in the same process, so anything near it
// means the nucleus is stuck.
const flushTimeout = 10 * time.Second

// Link is what the bridge needs of the IoT Core connection;
// *iotcore.Service has it.
type Link interface {
	Publish(ctx context.Context, m iotcore.Message) error
	Subscribe(ctx context.Context, filter string, qos byte, h iotcore.Handler) (unsubscribe func(context.Context) error, err error)
}

// Options configure a Bridge.
type Options struct {
	// Mappings are the topic mappings (Greengrass's mqttTopicMapping).
	Mappings []Mapping
	// Conn is the nucleus's connection to the local broker: it may
	// subscribe and publish on every subject.
	Conn *nats.Conn
	// Link is the IoT Core connection; nil when none is configured, in
	// which case a mapping from or to IotCore is refused.
	Link Link
	// Logger; nil: slog.Default.
	Logger *slog.Logger
}

// Bridge moves messages between the local broker and IoT Core by its
// mappings. Goroutines: none of its own; its handlers run on the NATS
// subscriptions' goroutines and the IoT Core link's delivery goroutine,
// and Shutdown waits until none is running.
type Bridge struct {
	opts   Options
	log    *slog.Logger
	echoes *echoes

	ctx    context.Context // ends at Shutdown: a publish to IoT Core waiting on the spool gives up
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup // handlers in progress
	subs    []*nats.Subscription
	unsubs  []func(context.Context) error

	counts map[string]*counts // by mapping name; fixed at New
}

// counts are one mapping's figures.
type counts struct{ bridged, failed, echoes atomic.Uint64 }

// New validates the mappings and what they need; it subscribes to
// nothing.
func New(opts Options) (*Bridge, error) {
	if opts.Conn == nil {
		return nil, errors.New("MQTT bridge: no connection to the local broker")
	}
	if err := Validate(opts.Mappings); err != nil {
		return nil, err
	}
	var errs []error
	for _, m := range sorted(opts.Mappings) {
		if m.usesIoTCore() && opts.Link == nil {
			errs = append(errs, fmt.Errorf("%w %q: %s IotCore needs the link to AWS IoT Core, which is not configured or did not start (its error is logged before this): set iotDataEndpoint and the system certificate paths in the config file, or remove the mapping",
				ErrInvalidMapping, m.Name, map[bool]string{true: "source", false: "target"}[m.Source == IotCore]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Bridge{opts: opts, log: opts.Logger.With("service", "bridge"), echoes: newEchoes(maxEchoes), counts: map[string]*counts{}}
	for _, m := range opts.Mappings {
		b.counts[m.Name] = &counts{}
	}
	return b, nil
}

// Name is the service's name.
func (b *Bridge) Name() string { return "bridge" }

// Start subscribes every mapping's source. An IoT Core subscription that
// IoT Core refuses fails Start, naming the mapping; what was subscribed
// is unsubscribed again.
func (b *Bridge) Start(ctx context.Context) error {
	b.ctx, b.cancel = context.WithCancel(context.Background())
	for _, m := range sorted(b.opts.Mappings) {
		if m.idle() {
			b.log.Info("mapping moves nothing: LocalMqtt and Pubsub are the same broker in Sward, so without a targetTopicPrefix the message is already there",
				"mapping", m.Name, "topic", m.Topic)
			continue
		}
		if err := b.subscribe(ctx, m); err != nil {
			_ = b.Shutdown(ctx)
			return fmt.Errorf("MQTT bridge mapping %q (%s %s → %s): %w", m.Name, m.Source, m.Topic, m.Target, err)
		}
		b.log.Debug("mapping started", "mapping", m.Name, "topic", m.Topic, "source", m.Source, "target", m.Target, "prefix", m.TargetTopicPrefix)
	}
	// Started once the broker has the subscriptions, not when they are in
	// a buffer: a message published after Start is bridged.
	if err := b.opts.Conn.FlushTimeout(flushTimeout); err != nil {
		_ = b.Shutdown(ctx)
		return fmt.Errorf("MQTT bridge: subscribing on the local broker: %w", err)
	}
	return nil
}

func (b *Bridge) subscribe(ctx context.Context, m Mapping) error {
	if m.Source == IotCore {
		unsub, err := b.opts.Link.Subscribe(ctx, m.Topic, 1, func(msg iotcore.Message) {
			if !b.enter() {
				return
			}
			defer b.running.Done()
			if b.echoes.take(m.Name, msg.Topic, msg.Payload) {
				b.counts[m.Name].echoes.Add(1)
				return // IoT Core's copy of a message this bridge published
			}
			b.deliver(m, msg.Topic, msg.Payload)
		})
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.unsubs = append(b.unsubs, unsub)
		b.mu.Unlock()
		return nil
	}
	for _, subj := range subjects(m.Topic) {
		dropped := 0 // the subscription's handler runs one message at a time
		sub, err := b.opts.Conn.Subscribe(subj, func(msg *nats.Msg) {
			if !b.enter() {
				return
			}
			defer b.running.Done()
			b.noteDropped(m, msg.Sub, &dropped)
			if msg.Header.Get(Header) != "" {
				return // bridged in: never bridged out again
			}
			topic := topicOf(msg.Subject)
			if !matches(m.Topic, topic) || internal(msg.Subject) {
				return
			}
			b.deliver(m, topic, msg.Data)
		})
		if err != nil {
			return fmt.Errorf("subscribe to %s on the local broker: %w", subj, err)
		}
		b.mu.Lock()
		b.subs = append(b.subs, sub)
		b.mu.Unlock()
	}
	return nil
}

// noteDropped counts and logs the messages the client library dropped
// because they came faster than the mapping's target took them (a slow
// consumer: more than nats.go's pending limits, 512Ki messages or 64 MiB,
// waiting), which nothing else would report.
func (b *Bridge) noteDropped(m Mapping, sub *nats.Subscription, seen *int) {
	d, err := sub.Dropped()
	if err != nil || d <= *seen {
		return
	}
	b.counts[m.Name].failed.Add(uint64(d - *seen))
	b.log.Warn("messages dropped before the bridge took them: they came faster than the target took them",
		"mapping", m.Name, "target", m.Target, "dropped", d-*seen)
	*seen = d
}

// internal reports whether a subject is the nucleus's own traffic, never
// bridged even by a filter such as # that matches it: MQTT's $ topics are
// excluded by matches; these are NATS inboxes and the nucleus's sward.
// subjects (IPC, component state, the link's state).
func internal(subj string) bool {
	return strings.HasPrefix(subj, "_INBOX.") || strings.HasPrefix(subj, "_SWARD_INBOX.") || strings.HasPrefix(subj, "sward.")
}

// deliver sends one message to the mapping's target.
func (b *Bridge) deliver(m Mapping, topic string, payload []byte) {
	target := m.TargetTopicPrefix + topic
	var err error
	if m.Target == IotCore {
		b.echoes.expect(b.opts.Mappings, target, payload)
		err = b.opts.Link.Publish(b.ctx, iotcore.Message{Topic: target, Payload: payload, QoS: 1})
		if err != nil {
			b.echoes.forget(b.opts.Mappings, target, payload)
		}
	} else {
		out := nats.NewMsg(subject(target))
		out.Header.Set(Header, m.Name)
		out.Data = payload
		err = b.opts.Conn.PublishMsg(out)
	}
	if err != nil {
		b.counts[m.Name].failed.Add(1)
		b.log.Warn("message not bridged", "mapping", m.Name, "topic", topic, "target", m.Target, "targetTopic", target, "error", err)
		return
	}
	b.counts[m.Name].bridged.Add(1)
}

// enter admits a handler unless Shutdown has begun.
func (b *Bridge) enter() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.running.Add(1)
	return true
}

// Stats are the bridge's counters, over all mappings.
type Stats struct {
	// Bridged messages reached their target; Failed did not (logged).
	Bridged, Failed uint64
	// Echoes are IoT Core's copies of the bridge's own publishes, dropped.
	Echoes uint64
}

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	var s Stats
	for _, c := range b.counts {
		s.Bridged += c.bridged.Load()
		s.Failed += c.failed.Load()
		s.Echoes += c.echoes.Load()
	}
	return s
}

// Shutdown unsubscribes every source and returns once no handler runs.
func (b *Bridge) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	subs, unsubs := b.subs, b.unsubs
	b.subs, b.unsubs = nil, nil
	b.mu.Unlock()
	if b.cancel != nil {
		b.cancel()
	}
	var errs []error
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	for _, u := range unsubs {
		if err := u(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("MQTT bridge: handlers still running: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// echoes remembers the messages the bridge published to IoT Core that an
// IotCore-source mapping would receive back: IoT Core (MQTT 3.1.1, no
// "no local") delivers a device's publish to the device's own matching
// subscriptions. Each expected copy is counted per receiving mapping and
// taken once, so the echo is dropped and a message anyone else publishes
// on that topic still comes through.
type echoes struct {
	mu      sync.Mutex
	max     int
	pending map[echoKey]int
	order   []echoKey // oldest first, to bound pending
}

type echoKey struct {
	mapping, topic string
	sum            uint64
}

func newEchoes(max int) *echoes { return &echoes{max: max, pending: map[echoKey]int{}} }

func key(mapping, topic string, payload []byte) echoKey {
	h := fnv.New64a()
	h.Write(payload)
	return echoKey{mapping, topic, h.Sum64()}
}

// expect records the echo of a publish on topic for each IotCore-source
// mapping whose filter matches it.
func (e *echoes) expect(ms []Mapping, topic string, payload []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range ms {
		if m.Source != IotCore || !matches(m.Topic, topic) {
			continue
		}
		k := key(m.Name, topic, payload)
		e.pending[k]++
		e.order = append(e.order, k)
		if len(e.order) > e.max {
			e.drop(e.order[0])
			e.order = e.order[1:]
		}
	}
}

// forget undoes expect for a publish that failed.
func (e *echoes) forget(ms []Mapping, topic string, payload []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range ms {
		if m.Source == IotCore && matches(m.Topic, topic) {
			e.drop(key(m.Name, topic, payload))
		}
	}
}

// take reports whether a message is an expected echo, and consumes it.
func (e *echoes) take(mapping, topic string, payload []byte) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := key(mapping, topic, payload)
	if e.pending[k] == 0 {
		return false
	}
	e.drop(k)
	return true
}

func (e *echoes) drop(k echoKey) {
	if e.pending[k] <= 1 {
		delete(e.pending, k)
		return
	}
	e.pending[k]--
}

// The IoT Core connection is what the nucleus passes as Link.
var _ Link = (*iotcore.Service)(nil)
