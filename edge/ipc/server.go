package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// DefaultMaxInFlight bounds the slower requests (everything but the
// operations marked fast in the table) handled at once across all components: enough for
// four components at their DefaultInFlightPerComponent, each waiting in
// ReadMessages or a deployment call, few enough that the nucleus never
// starts thousands of goroutines.
const DefaultMaxInFlight = 256

// maxRequestBytes bounds a request body: the largest legitimate ones are a
// 30 KB shadow document and a 64 KB deployment; anything bigger is refused
// before it is decoded.
const maxRequestBytes = 256 << 10

// maxResourceBytes bounds a resource name checked against the policies:
// the longest real ones (a thing name with a shadow name, a stream name) are
// a few hundred bytes.
const maxResourceBytes = 1024

// Authorizer says who may call what: the deployed components, the inboxes
// they answer to and the grants of their accessControl (edge/authz's
// Registry serves it).
type Authorizer interface {
	// Known reports whether component is deployed with an identity.
	Known(component string) bool
	// OwnsReply reports whether reply is under component's current inbox.
	OwnsReply(component, reply string) bool
	// Allows reports whether component's accessControl grants op of
	// service on resource ("" for an operation without one).
	Allows(component, service, op, resource string) bool
	// OnRemoved makes removed be told each component that leaves the
	// deployed set.
	OnRemoved(removed func(component string))
}

// Metrics is what the front end reports to the /metrics registry
// (edge/metrics serves it).
type Metrics interface {
	// ObserveRequest counts one request of op (a name in the operation
	// table, or "unknown") answered with err after d.
	ObserveRequest(op string, err error, d time.Duration)
	// Forget drops what is kept for a component no longer deployed.
	Forget(component string)
}

// Options configures a Server. Conn, Authorizer and Operations are
// required; Metrics may be nil.
type Options struct {
	Conn       *nats.Conn
	Authorizer Authorizer
	// Operations is the operation table, built by the nucleus from its
	// services (each service's RegisterIPC); it is not changed afterwards.
	Operations  *op.Table
	Metrics     Metrics
	MaxInFlight int
	// RatePerComponent, BurstPerComponent and InFlightPerComponent bound
	// each component's requests (zero: the Default… values).
	RatePerComponent     float64
	BurstPerComponent    int
	InFlightPerComponent int
	Logger               *slog.Logger
}

// Server is the IPC front end: it answers component requests on
// sward.ipc.<component>.<Operation> from its operation table, checking them
// against the caller's accessControl.
type Server struct {
	opts  Options
	log   *slog.Logger
	sem   chan struct{}
	sub   *nats.Subscription
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	ops   *op.Table
	lanes *lanes

	// mu guards stopping against the WaitGroup: no request is added once
	// Shutdown has begun waiting.
	mu       sync.Mutex
	stopping bool
}

// New checks opts. It subscribes to nothing until Start.
func New(opts Options) (*Server, error) {
	if opts.Conn == nil || opts.Authorizer == nil || opts.Operations == nil {
		return nil, errors.New("ipc: Options need Conn, Authorizer and Operations")
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.RatePerComponent <= 0 {
		opts.RatePerComponent = DefaultRatePerComponent
	}
	if opts.BurstPerComponent <= 0 {
		opts.BurstPerComponent = DefaultBurstPerComponent
	}
	if opts.InFlightPerComponent <= 0 {
		opts.InFlightPerComponent = DefaultInFlightPerComponent
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("service", "ipc")
	s := &Server{opts: opts, log: log, sem: make(chan struct{}, opts.MaxInFlight), ops: opts.Operations,
		lanes: newLanes(opts.RatePerComponent, opts.BurstPerComponent, opts.InFlightPerComponent)}
	opts.Authorizer.OnRemoved(s.componentRemoved)
	return s, nil
}

// Start subscribes to the operation subjects. It does not block.
func (s *Server) Start() error {
	s.ctx, s.stop = context.WithCancel(context.Background())
	var err error
	s.sub, err = s.opts.Conn.Subscribe(wire.IPCRoot+".>", s.dispatch)
	if err != nil {
		return fmt.Errorf("ipc: subscribe %s.>: %w", wire.IPCRoot, err)
	}
	// Operations are many small requests: let the subscription buffer a
	// burst rather than drop it as a slow consumer.
	_ = s.sub.SetPendingLimits(64<<10, 64<<20)
	return s.opts.Conn.Flush()
}

// Shutdown stops answering and waits for requests in flight.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// componentRemoved drops what the server keeps for a component that is no
// longer deployed: its lane and its metric series.
func (s *Server) componentRemoved(component string) {
	s.lanes.forget(component)
	if s.opts.Metrics != nil {
		s.opts.Metrics.Forget(component)
	}
}

// SessionEnded forgets the lane of a component whose session ended
// (restart, stop, removal).
func (s *Server) SessionEnded(component string) {
	s.lanes.forget(component)
}

// dispatch runs on the subscription's goroutine, so it does only what is
// quick and the same for every request: parse the subject, admit the request
// to the caller's lane (or refuse it over the lane's limits) and hand it on.
// Quick operations go to the lane's own worker, the others to a goroutine of
// their own; so a component whose requests are slow or many delays only
// itself.
func (s *Server) dispatch(m *nats.Msg) {
	caller, op, err := wire.ParseOperationSubject(m.Subject)
	if err != nil {
		s.reply(m, "", "", nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err))
		return
	}
	if !s.opts.Authorizer.Known(caller) {
		// Only a deployed component's own user can publish here, so this
		// is a component removed while its request was in flight; no lane
		// is made for it.
		s.reply(m, caller, op, nil, wire.Errorf(wire.CodeUnauthorized, "component %s is not deployed on this device", caller))
		return
	}
	l, err := s.lanes.admit(caller)
	if err != nil {
		s.reply(m, caller, op, nil, err)
		s.observe(op, err, 0)
		return
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		l.done()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	if o, _ := s.ops.Lookup(op); o.Fast {
		if l.enqueue(m) {
			s.wg.Add(1)
			go s.work(l)
		}
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.reply(m, caller, op, nil, wire.Errorf(wire.CodeService, "the nucleus is handling %d requests; retry shortly", cap(s.sem)))
		l.done()
		s.wg.Done()
		return
	}
	go func() {
		defer func() { <-s.sem; l.done(); s.wg.Done() }()
		s.handle(m, caller, op)
	}()
}

// work answers the quick requests queued on l, one after the other, and
// returns when the queue is empty.
func (s *Server) work(l *lane) {
	defer s.wg.Done()
	for {
		m, ok := l.next()
		if !ok {
			return
		}
		caller, op, _ := wire.ParseOperationSubject(m.Subject)
		s.handle(m, caller, op)
		l.done()
		s.wg.Done()
	}
}

func (s *Server) handle(m *nats.Msg, caller, op string) {
	start := time.Now()
	var resp any
	var err error
	switch {
	case !s.opts.Authorizer.Known(caller):
		// Only a deployed component's own user can publish here, so this
		// is a component removed while its request was in flight.
		err = wire.Errorf(wire.CodeUnauthorized, "component %s is not deployed on this device", caller)
	case m.Reply != "" && !s.opts.Authorizer.OwnsReply(caller, m.Reply):
		// nats-server does not check a reply subject, and the nucleus
		// answers with full rights: a request naming another subject is
		// neither run nor answered.
		s.log.Warn("ipc reply subject refused: not the caller's inbox", "component", caller, "operation", op, "reply", m.Reply)
		return
	case len(m.Data) > maxRequestBytes:
		err = wire.Errorf(wire.CodeInvalidArguments, "request of %d bytes is over the %d byte limit", len(m.Data), maxRequestBytes)
	default:
		resp, err = s.call(caller, op, m.Data)
	}
	s.reply(m, caller, op, resp, err)
	s.observe(op, err, time.Since(start))
}

// observe reports a request to Metrics, naming an operation not in the
// table "unknown" so the label set stays bounded whatever components send.
func (s *Server) observe(op string, err error, d time.Duration) {
	if s.opts.Metrics == nil {
		return
	}
	if _, ok := s.ops.Lookup(op); !ok {
		op = "unknown"
	}
	s.opts.Metrics.ObserveRequest(op, err, d)
}

// call runs one operation for caller: the operation's handler from the
// table, or UnsupportedOperationError naming it.
func (s *Server) call(caller, name string, body []byte) (any, error) {
	o, ok := s.ops.Lookup(name)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnsupportedOperation, "operation %q is unknown; see docs/ipc.md for the operations", name)
	}
	return o.Handle(s.ctx, &op.Call{Caller: caller, Name: name, Body: body,
		Authorize: func(service, operation, resource string) error {
			return s.authorize(caller, service, operation, resource)
		}})
}

// authorize checks a policy of service grants op on resource, and logs a
// refusal with the component and what it asked for.
func (s *Server) authorize(caller, service, op, resource string) error {
	if len(resource) > maxResourceBytes {
		return wire.Errorf(wire.CodeInvalidArguments, "the resource named is %d bytes long; names are at most %d", len(resource), maxResourceBytes)
	}
	if s.opts.Authorizer.Allows(caller, service, op, resource) {
		return nil
	}
	s.log.Warn("ipc request denied", "component", caller, "operation", op, "resource", resource,
		"subject", wire.OperationSubject(caller, op))
	what := ""
	if resource != "" {
		what = " on " + resource
	}
	return wire.Errorf(wire.CodeUnauthorized, "component %s is not authorized to call %s%s: add a %s policy granting it to the component's accessControl configuration", caller, op, what, service)
}

func (s *Server) reply(m *nats.Msg, caller, op string, resp any, err error) {
	if m.Reply == "" {
		if err != nil {
			s.log.Debug("ipc request without reply subject failed", "component", caller, "operation", op, "error", err)
		}
		return
	}
	if !s.opts.Authorizer.OwnsReply(caller, m.Reply) {
		return // handle refused it already; the busy and bad-subject paths come here directly
	}
	var data []byte
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			s.log.Error("ipc operation failed", "component", caller, "operation", op, "error", err)
		}
		data = wire.MarshalError(err)
	} else {
		data, err = json.Marshal(resp)
		if err != nil {
			s.log.Error("ipc response not encodable", "component", caller, "operation", op, "error", err)
			data = wire.MarshalError(err)
		}
	}
	_ = m.Respond(data)
}
