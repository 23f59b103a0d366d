package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/config"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// maxEventsPerChange bounds the ConfigurationUpdate events one change sends
// a subscriber: a deployment that rewrites a large configuration sends one
// event for the subscribed key path instead of one per leaf.
const maxEventsPerChange = 64

// configSub is one SubscribeToConfigurationUpdate: changes under keyPath of
// component go to the subscriber.
type configSub struct {
	component string
	keyPath   []string
}

// ConfigWatcher is what the registry needs of the configuration store
// (config.Store serves it): every change of a component's configuration.
type ConfigWatcher interface {
	Watch(ctx context.Context) (<-chan config.Change, error)
}

// Options configures a Registry. Conn and Config are required.
type Options struct {
	// Conn publishes the events.
	Conn *nats.Conn
	// Config is followed for ConfigurationUpdate events.
	Config ConfigWatcher
	Logger *slog.Logger
}

// Registry keeps the subscriptions of component sessions and delivers their
// events on sward.event.<subscriber>.<Kind>.
type Registry struct {
	nc     *nats.Conn
	config ConfigWatcher
	log    *slog.Logger
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	configs  map[string][]configSub                                // subscriber → subscriptions
	kinds    map[string]map[string]bool                            // kind → subscribers
	last     map[string]map[string]any                             // component → configuration last seen
	reports  map[string]*waiting[wire.ConfigurationValidityReport] // deploymentID → validation in progress
	answers  map[string]*waiting[answer]                           // deploymentID → update notification in progress
	notified map[string]bool                                       // deploymentID → pre-update events sent
}

// waiting collects the latest answer of each component a deployment waits
// for; signal (capacity 1) wakes the waiter. Only components asked may
// answer, and a component's answers overwrite each other, so no caller can
// crowd out another's answer.
type waiting[T any] struct {
	asked  map[string]bool
	got    map[string]T
	signal chan struct{}
}

func newWaiting[T any](asked []string) *waiting[T] {
	return &waiting[T]{asked: set(asked), got: map[string]T{}, signal: make(chan struct{}, 1)}
}

// put records v from component (under Registry.mu); false when component
// was not asked.
func (w *waiting[T]) put(component string, v T) bool {
	if !w.asked[component] {
		return false
	}
	w.got[component] = v
	select {
	case w.signal <- struct{}{}:
	default:
	}
	return true
}

// arrived returns and clears what came in since the last call.
func arrived[T any](e *Registry, w *waiting[T]) map[string]T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return w.take()
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// take returns and clears what arrived (under Registry.mu).
func (w *waiting[T]) take() map[string]T {
	got := w.got
	w.got = map[string]T{}
	return got
}

type answer struct {
	recheck time.Duration
	message string
}

// New checks opts. It subscribes to nothing and starts nothing until Start.
func New(opts Options) (*Registry, error) {
	if opts.Conn == nil || opts.Config == nil {
		return nil, errors.New("events: Options need Conn and Config")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Registry{nc: opts.Conn, config: opts.Config, log: opts.Logger.With("service", "events"),
		configs: map[string][]configSub{}, kinds: map[string]map[string]bool{},
		last: map[string]map[string]any{}, reports: map[string]*waiting[wire.ConfigurationValidityReport]{}, answers: map[string]*waiting[answer]{},
		notified: map[string]bool{}}, nil
}

// Name names the registry in the nucleus's service list.
func (e *Registry) Name() string { return "subscription events" }

// Start follows configuration changes for SubscribeToConfigurationUpdate.
// It does not block.
func (e *Registry) Start(context.Context) error {
	ctx, stop := context.WithCancel(context.Background())
	changes, err := e.config.Watch(ctx)
	if err != nil {
		stop()
		return err
	}
	e.stop = stop
	e.wg.Go(func() { e.followConfig(changes) })
	return nil
}

// Shutdown stops following configuration changes and waits until the
// goroutine that did has ended (at once: the watch closes its channel
// when its context ends).
func (e *Registry) Shutdown(context.Context) error {
	if e.stop != nil {
		e.stop()
	}
	e.wg.Wait()
	return nil
}

// maxConfigSubs bounds one session's configuration subscriptions: a
// component watches a handful of key paths, not thousands.
const maxConfigSubs = 64

func (e *Registry) subscribeConfig(subscriber, component string, keyPath []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.configs[subscriber] {
		if s.component == component && slices.Equal(s.keyPath, keyPath) {
			return nil // already subscribed
		}
	}
	if len(e.configs[subscriber]) >= maxConfigSubs {
		return wire.Errorf(wire.CodeInvalidArguments, "component %s already has %d configuration subscriptions; subscribe to a common key path instead", subscriber, maxConfigSubs)
	}
	e.configs[subscriber] = append(e.configs[subscriber], configSub{component: component, keyPath: slices.Clone(keyPath)})
	return nil
}

func (e *Registry) subscribe(subscriber, kind string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kinds[kind] == nil {
		e.kinds[kind] = map[string]bool{}
	}
	e.kinds[kind][subscriber] = true
}

// Forget drops the subscriptions of a component whose session ended
// (restart, stop, removal): they belonged to the process that made them.
func (e *Registry) Forget(subscriber string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.configs, subscriber)
	for _, subs := range e.kinds {
		delete(subs, subscriber)
	}
}

func (e *Registry) subscribers(kind string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.kinds[kind]))
}

func (e *Registry) publish(subscriber, kind string, body any) {
	data, _ := json.Marshal(body)
	if err := e.nc.Publish(wire.EventSubject(subscriber, kind), data); err != nil {
		e.log.Warn("event not delivered", "component", subscriber, "kind", kind, "error", err)
	}
}

// followConfig turns configuration changes into ConfigurationUpdate events.
func (e *Registry) followConfig(changes <-chan config.Change) {
	for c := range changes {
		e.mu.Lock()
		prev := e.last[c.Component]
		if c.Config == nil {
			delete(e.last, c.Component)
		} else {
			e.last[c.Component] = c.Config
		}
		type delivery struct {
			to   string
			path []string
		}
		var out []delivery
		changed := config.ChangedPaths(prev, c.Config)
		for subscriber, subs := range e.configs {
			sent := map[string]bool{}
			for _, sub := range subs {
				if sub.component != c.Component {
					continue
				}
				var hits [][]string
				for _, p := range changed {
					if related(p, sub.keyPath) {
						hits = append(hits, p)
					}
				}
				if len(hits) > maxEventsPerChange {
					hits = [][]string{sub.keyPath}
				}
				for _, p := range hits {
					if k := strings.Join(p, "/"); !sent[k] {
						sent[k] = true
						out = append(out, delivery{subscriber, p})
					}
				}
			}
		}
		e.mu.Unlock()
		for _, d := range out {
			e.publish(d.to, wire.EventConfigurationUpdate, wire.ConfigurationUpdateEvents{
				ConfigurationUpdateEvent: &wire.ConfigurationUpdateEvent{ComponentName: c.Component, KeyPath: d.path}})
		}
	}
}

// related: one path is on the other's branch.
func related(a, b []string) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// report takes a SendConfigurationValidityReport.
func (e *Registry) report(caller string, r wire.ConfigurationValidityReport) error {
	if r.Status != wire.ValidityAccepted && r.Status != wire.ValidityRejected {
		return wire.Errorf(wire.CodeInvalidArguments, "configurationValidityReport.status is %q; use ACCEPTED or REJECTED", r.Status)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.reports[r.DeploymentID]
	if !ok || !w.put(caller, r) {
		return wire.Errorf(wire.CodeResourceNotFound, "deployment %q is not waiting for a configuration validity report from %s", r.DeploymentID, caller)
	}
	return nil
}

// maxRecheck bounds recheckAfterMs: a deferral longer than a day is a
// mistake (the deployment's own timeout ends the wait anyway).
const maxRecheck = 24 * time.Hour

// deferral takes a DeferComponentUpdate.
func (e *Registry) deferral(caller string, req wire.DeferComponentUpdateRequest) error {
	if req.RecheckAfterMs < 0 || time.Duration(req.RecheckAfterMs) > maxRecheck/time.Millisecond {
		return wire.Errorf(wire.CodeInvalidArguments, "recheckAfterMs is %d; give 0 (go ahead) or the milliseconds to defer, at most a day", req.RecheckAfterMs)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.answers[req.DeploymentID]
	if !ok || !w.put(caller, answer{time.Duration(req.RecheckAfterMs) * time.Millisecond, req.Message}) {
		return wire.Errorf(wire.CodeResourceNotFound, "deployment %q is not waiting for component updates from %s", req.DeploymentID, caller)
	}
	return nil
}

// Validate is deployment.Participants' Validate: every component in
// changed that subscribed to validation gets its new configuration and must
// answer within timeout; one REJECTED report fails the deployment, a
// missing report lets it proceed (Greengrass does the same).
func (e *Registry) Validate(ctx context.Context, deploymentID string, changed map[string]map[string]any, timeout time.Duration) error {
	var asked []string
	for _, c := range e.subscribers(wire.EventValidateConfigurationUpdates) {
		if _, ok := changed[c]; ok {
			asked = append(asked, c)
		}
	}
	if len(asked) == 0 || timeout <= 0 {
		return nil
	}
	w := newWaiting[wire.ConfigurationValidityReport](asked)
	e.mu.Lock()
	e.reports[deploymentID] = w
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.reports, deploymentID)
		e.mu.Unlock()
	}()
	for _, c := range asked {
		e.publish(c, wire.EventValidateConfigurationUpdates, wire.ValidateConfigurationUpdateEvents{
			ValidateConfigurationUpdateEvent: &wire.ValidateConfigurationUpdateEvent{DeploymentID: deploymentID, Configuration: changed[c]}})
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	pending := set(asked)
	for len(pending) > 0 {
		select {
		case <-w.signal:
			got := arrived(e, w)
			for _, c := range slices.Sorted(maps.Keys(got)) {
				delete(pending, c)
				if got[c].Status == wire.ValidityRejected {
					return fmt.Errorf("component %s rejected its new configuration: %s", c, got[c].Message)
				}
			}
		case <-deadline.C:
			e.log.Warn("configuration validation timed out; the deployment proceeds", "deployment", deploymentID,
				"components", slices.Sorted(maps.Keys(pending)), "timeout", timeout.String())
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Notify is deployment.Participants' Notify: every component that
// subscribed to component updates gets a pre-update event and answers with
// DeferComponentUpdate; recheckAfterMs > 0 defers, and the component is
// asked again after that long. The deployment proceeds when all said go
// ahead, or when timeout has passed.
func (e *Registry) Notify(ctx context.Context, deploymentID string, timeout time.Duration) {
	subs := e.subscribers(wire.EventComponentUpdates)
	if len(subs) == 0 {
		return
	}
	w := newWaiting[answer](subs)
	e.mu.Lock()
	e.answers[deploymentID] = w
	e.notified[deploymentID] = true
	e.mu.Unlock()
	recheck := make(chan string, len(subs))
	timers := map[string]*time.Timer{}
	defer func() {
		e.mu.Lock()
		delete(e.answers, deploymentID)
		e.mu.Unlock()
		for _, t := range timers {
			t.Stop()
		}
	}()
	ask := func(c string) {
		e.publish(c, wire.EventComponentUpdates, wire.ComponentUpdatePolicyEvents{
			PreUpdateEvent: &wire.PreComponentUpdateEvent{DeploymentID: deploymentID}})
	}
	for _, c := range subs {
		ask(c)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	pending := set(subs)
	for len(pending) > 0 {
		select {
		case <-w.signal:
			got := arrived(e, w)
			for _, c := range slices.Sorted(maps.Keys(got)) {
				a := got[c]
				if !pending[c] {
					continue
				}
				if a.recheck == 0 {
					delete(pending, c)
					continue
				}
				e.log.Info("component deferred the update", "deployment", deploymentID, "component", c,
					"recheckAfter", a.recheck.String(), "message", a.message)
				// One timer per component: a new deferral replaces the last.
				if t, ok := timers[c]; ok {
					t.Stop()
				}
				timers[c] = time.AfterFunc(a.recheck, func() {
					select {
					case recheck <- c:
					default: // already due
					}
				})
			}
		case c := <-recheck:
			if pending[c] {
				ask(c)
			}
		case <-deadline.C:
			e.log.Warn("component update wait timed out; the deployment proceeds", "deployment", deploymentID,
				"components", slices.Sorted(maps.Keys(pending)), "timeout", timeout.String())
			return
		case <-ctx.Done():
			return
		}
	}
}

// Updated is deployment.Participants' Updated: subscribers that heard
// of the update hear that it is done.
func (e *Registry) Updated(deploymentID string) {
	e.mu.Lock()
	was := e.notified[deploymentID]
	delete(e.notified, deploymentID)
	e.mu.Unlock()
	if !was {
		return
	}
	for _, c := range e.subscribers(wire.EventComponentUpdates) {
		e.publish(c, wire.EventComponentUpdates, wire.ComponentUpdatePolicyEvents{
			PostUpdateEvent: &wire.PostComponentUpdateEvent{DeploymentID: deploymentID}})
	}
}
