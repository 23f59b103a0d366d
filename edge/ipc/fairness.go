package ipc

import (
	"sync"

	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// Per-component limits, so that one component flooding the IPC cannot stall
// the others. Every component has its own lane: a token bucket, a cap on its
// requests in flight (queued or running) and its own worker for the quick
// operations. A request over either limit is answered at once with a
// ServiceError naming the limits, before any work is done.
//
// The rate is twice the most a well-behaved component reached in the
// performance figures (16 shadow updates in flight at 10 000/s; sequential
// GetConfiguration calls at about 6 000/s), so no real workload meets it,
// while a flood is cut to what its lane's one worker answers. 64 in flight
// covers a component's pipelined calls plus blocking ReadMessages waits;
// what really bounds a flood is that cap, as a flooder sends far faster
// than it is answered.
const (
	DefaultRatePerComponent     = 20_000
	DefaultBurstPerComponent    = 20_000
	DefaultInFlightPerComponent = 64
)

// lane is one component's share of the IPC front end.
type lane struct {
	limiter *rate.Limiter

	// mu guards inFlight, queue and running: the subscription goroutine
	// adds, the lane's worker (at most one, running only while queue has
	// requests) and the slow-operation goroutines take away.
	mu       sync.Mutex
	inFlight int
	queue    []*nats.Msg
	running  bool
}

// lanes holds the lane of every component that called recently.
type lanes struct {
	rate     rate.Limit
	burst    int
	inFlight int

	mu sync.Mutex
	m  map[string]*lane
}

func newLanes(perSecond float64, burst, inFlight int) *lanes {
	return &lanes{rate: rate.Limit(perSecond), burst: burst, inFlight: inFlight, m: map[string]*lane{}}
}

// admit takes a token and an in-flight slot of caller's lane, or returns the
// error to answer with.
func (ls *lanes) admit(caller string) (*lane, error) {
	ls.mu.Lock()
	l, ok := ls.m[caller]
	if !ok {
		l = &lane{limiter: rate.NewLimiter(ls.rate, ls.burst)}
		ls.m[caller] = l
	}
	ls.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= ls.inFlight || !l.limiter.Allow() {
		return nil, wire.Errorf(wire.CodeService, "rate limit exceeded for component %s: %g requests/s, %d in flight; wait for answers before sending more, and back off when this error comes", caller, float64(ls.rate), ls.inFlight)
	}
	l.inFlight++
	return l, nil
}

// done gives back an in-flight slot.
func (l *lane) done() {
	l.mu.Lock()
	l.inFlight--
	l.mu.Unlock()
}

// enqueue queues m for the lane's worker and reports whether the caller
// must start one (none is running).
func (l *lane) enqueue(m *nats.Msg) (start bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = append(l.queue, m)
	if l.running {
		return false
	}
	l.running = true
	return true
}

// next takes the next queued request; ok is false (and the worker must
// exit) when the queue is empty.
func (l *lane) next() (m *nats.Msg, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		l.running = false
		l.queue = nil
		return nil, false
	}
	m = l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return m, true
}

// forget drops caller's lane when nothing of it is in flight: a component
// that is gone leaves nothing behind.
func (ls *lanes) forget(caller string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[caller]
	if !ok {
		return
	}
	l.mu.Lock()
	idle := l.inFlight == 0
	l.mu.Unlock()
	if idle {
		delete(ls.m, caller)
	}
}
