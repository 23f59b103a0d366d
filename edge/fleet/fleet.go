// Package fleet is the nucleus's fleet status service: it reports the
// device's components, their versions and lifecycle states, to the cloud
// on topics.FleetStatus (sward/<thing>/health) in the shared/fleetstatus
// message, as Greengrass's fleet status service does.
//
// It reports
//   - once the IoT Core link first connects after the nucleus started
//     (NUCLEUS_LAUNCH),
//   - after every deployment ends (DEPLOYMENT),
//   - when a component goes BROKEN (BROKEN_COMPONENT),
//   - every Interval (CADENCE; fleetStatus.periodicStatusPublishIntervalSeconds,
//     24 h by default).
//
// Reports within Delay of each other are sent as one, named after the most
// telling of their triggers (BROKEN_COMPONENT, then DEPLOYMENT, then
// NUCLEUS_LAUNCH, then CADENCE): a launch whose startup deployment ends
// within Delay is one DEPLOYMENT report. Everything it knows
// comes from the local bus: component state changes on
// sward.component.state, deployment ends from the deployment records'
// KV bucket (a record whose state is terminal), the link's state on
// topics.CloudLinkStateSubject. It publishes with QoS 1 through the link,
// so a report made offline waits in the link's durable spool.
//
//	Options → New (validates; starts nothing) → Start (subscribes; one goroutine) → Shutdown
package fleet

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

	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/service"
	"github.com/sward-iot/sward/shared/fleetstatus"
	"github.com/sward-iot/sward/shared/topics"
)

// Defaults.
const (
	// DefaultInterval is Greengrass's periodicStatusPublishIntervalSeconds
	// default, 86400 s.
	DefaultInterval = 24 * time.Hour
	// DefaultDelay gathers the reports of a burst (a deployment that
	// restarts several components) into one message.
	DefaultDelay = time.Second
	// DefaultDeploymentsBucket is edge/deployment's records bucket.
	DefaultDeploymentsBucket = deployment.DefaultBucket
	// ComponentStateSubject is where the nucleus publishes every component
	// state change (nucleus.SubjectComponentState).
	ComponentStateSubject = "sward.component.state"
)

// Link is the part of the IoT Core connection (edge/iotcore) the service
// uses.
type Link interface {
	Publish(ctx context.Context, m iotcore.Message) error
	State(ctx context.Context) iotcore.State
}

// Options configure the service.
type Options struct {
	// ThingName names the topic. Required.
	ThingName string
	// Conn is the nucleus's bus connection. Required.
	Conn *nats.Conn
	// Link carries the reports to IoT Core. Required.
	Link Link
	// Interval between CADENCE reports; zero is DefaultInterval.
	Interval time.Duration
	// Delay gathers reports; zero is DefaultDelay.
	Delay time.Duration
	// DeploymentsBucket is the deployment records' KV bucket; empty is
	// DefaultDeploymentsBucket.
	DeploymentsBucket string
	Logger            *slog.Logger
}

// Service is the fleet status service.
type Service struct {
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	components map[string]fleetstatus.Component
	ended      map[string]bool // deployments already reported
	launched   bool            // NUCLEUS_LAUNCH sent
	seq        uint64

	trigger chan fleetstatus.Trigger
	subs    []*nats.Subscription
	worker  service.Worker
}

// New validates opts. It subscribes to nothing and starts nothing.
func New(opts Options) (*Service, error) {
	var errs []error
	if err := topics.ValidateThingName(opts.ThingName); err != nil {
		errs = append(errs, fmt.Errorf("fleet status: thing name: %w", err))
	}
	if opts.Conn == nil {
		errs = append(errs, errors.New("fleet status: Options.Conn is required (the nucleus's bus connection)"))
	}
	if opts.Link == nil {
		errs = append(errs, errors.New("fleet status: Options.Link is required; the service runs only with an IoT Core link"))
	}
	if opts.Interval < 0 || opts.Delay < 0 {
		errs = append(errs, fmt.Errorf("fleet status: interval %s and delay %s must not be negative", opts.Interval, opts.Delay))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Delay == 0 {
		opts.Delay = DefaultDelay
	}
	if opts.DeploymentsBucket == "" {
		opts.DeploymentsBucket = DefaultDeploymentsBucket
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opts: opts, log: opts.Logger.With("service", "fleet"),
		components: map[string]fleetstatus.Component{}, ended: map[string]bool{},
		trigger: make(chan fleetstatus.Trigger, 64)}, nil
}

// Name is the service's name in the nucleus's list.
func (s *Service) Name() string { return "fleet status" }

// Start subscribes to the bus and starts the reporting goroutine.
func (s *Service) Start(ctx context.Context) error {
	subscribe := map[string]nats.MsgHandler{
		ComponentStateSubject:                               s.onComponentState,
		deployment.RecordsSubject(s.opts.DeploymentsBucket): s.onDeploymentRecord,
		topics.CloudLinkStateSubject:                        s.onLinkState,
	}
	for _, subject := range slices.Sorted(maps.Keys(subscribe)) {
		sub, err := s.opts.Conn.Subscribe(subject, subscribe[subject])
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("fleet status: subscribe to %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	if err := s.opts.Conn.FlushTimeout(5 * time.Second); err != nil {
		s.unsubscribe()
		return fmt.Errorf("fleet status: subscribe: %w", err)
	}
	s.worker.Go(s.run)
	// The link may have connected before the subscription was made.
	if s.opts.Link.State(ctx).Connected {
		s.launch()
	}
	return nil
}

// Shutdown unsubscribes and waits for the reporting goroutine. A report
// being gathered is not sent.
func (s *Service) Shutdown(ctx context.Context) error {
	s.unsubscribe()
	return s.worker.Stop(ctx, "fleet status")
}

func (s *Service) unsubscribe() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.subs = nil
}

func (s *Service) request(t fleetstatus.Trigger) {
	select {
	case s.trigger <- t:
	default: // a report is already due; it will carry the latest states
	}
}

func (s *Service) launch() {
	s.mu.Lock()
	first := !s.launched
	s.launched = true
	s.mu.Unlock()
	if first {
		s.request(fleetstatus.NucleusLaunch)
	}
}

func (s *Service) onLinkState(m *nats.Msg) {
	var st struct {
		Connected bool `json:"connected"`
	}
	if json.Unmarshal(m.Data, &st) == nil && st.Connected {
		s.launch()
	}
}

// stateChange is the part of the nucleus's state change event read here.
type stateChange struct {
	Component string `json:"component"`
	Version   string `json:"version"`
	To        string `json:"to"`
	Reason    string `json:"reason"`
}

func (s *Service) onComponentState(m *nats.Msg) {
	var c stateChange
	if err := json.Unmarshal(m.Data, &c); err != nil || c.Component == "" {
		s.log.Warn("component state event not understood", "error", err)
		return
	}
	s.mu.Lock()
	s.components[c.Component] = component(c.Component, c.Version, c.To, c.Reason)
	s.mu.Unlock()
	if c.To == "BROKEN" {
		s.request(fleetstatus.BrokenComponent)
	}
}

func component(name, version, state, reason string) fleetstatus.Component {
	if r := []rune(reason); len(r) > fleetstatus.MaxReasonLength {
		reason = string(r[:fleetstatus.MaxReasonLength-1]) + "…"
	}
	return fleetstatus.Component{Name: name, Version: version, State: state, Reason: reason}
}

// record is the part of a deployment record read here.
func (s *Service) onDeploymentRecord(m *nats.Msg) {
	st, ok := deployment.Ended(m.Data)
	if !ok {
		return // a delete, or a deployment still going
	}
	s.mu.Lock()
	if s.ended[st.DeploymentID] {
		s.mu.Unlock()
		return
	}
	s.ended[st.DeploymentID] = true
	for _, o := range st.Components {
		switch {
		case o.State == "REMOVED" || o.Version == "":
			delete(s.components, o.Name)
		case o.State != "":
			s.components[o.Name] = component(o.Name, o.Version, o.State, o.Reason)
		}
	}
	s.mu.Unlock()
	s.request(fleetstatus.Deployment)
}

func (s *Service) run(ctx context.Context) {
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	for {
		var t fleetstatus.Trigger
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t = fleetstatus.Cadence
		case t = <-s.trigger:
		}
		// Gather what else happens within Delay: the most telling trigger
		// names the report.
		gather := time.NewTimer(s.opts.Delay)
	wait:
		for {
			select {
			case <-ctx.Done():
				gather.Stop()
				return
			case more := <-s.trigger:
				t = stronger(t, more)
			case <-gather.C:
				break wait
			}
		}
		if err := s.report(ctx, t); err != nil {
			s.log.Error("fleet status not sent", "trigger", string(t), "error", err)
		}
	}
}

// stronger is the trigger of the two that says more: a broken component,
// then a deployment, then the launch, then the cadence.
func stronger(a, b fleetstatus.Trigger) fleetstatus.Trigger {
	rank := func(t fleetstatus.Trigger) int {
		return slices.Index([]fleetstatus.Trigger{fleetstatus.Cadence, fleetstatus.NucleusLaunch, fleetstatus.Deployment, fleetstatus.BrokenComponent}, t)
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Message is the report the service would send now for trigger t.
func (s *Service) Message(t fleetstatus.Trigger) fleetstatus.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	cs := make([]fleetstatus.Component, 0, len(s.components))
	for _, name := range slices.Sorted(maps.Keys(s.components)) {
		cs = append(cs, s.components[name])
	}
	if len(cs) > fleetstatus.MaxComponents {
		s.log.Warn("fleet status lists only the first components", "components", len(cs), "listed", fleetstatus.MaxComponents)
		cs = cs[:fleetstatus.MaxComponents]
	}
	return fleetstatus.Message{FormatVersion: fleetstatus.FormatVersion, Trigger: t, Overall: fleetstatus.OverallOf(cs),
		Sequence: s.seq, Timestamp: time.Now().UnixMilli(), Components: cs}
}

func (s *Service) report(ctx context.Context, t fleetstatus.Trigger) error {
	m := s.Message(t)
	data, err := m.Encode()
	if err != nil {
		return err
	}
	topic := topics.FleetStatus(s.opts.ThingName)
	if err := s.opts.Link.Publish(ctx, iotcore.Message{Topic: topic, Payload: data, QoS: 1}); err != nil {
		return fmt.Errorf("publish on %s: %w", topic, err)
	}
	names := make([]string, len(m.Components))
	for i, c := range m.Components {
		names[i] = c.Name + "@" + c.Version + ":" + c.State
	}
	s.log.Info("fleet status sent", "trigger", string(t), "overall", m.Overall, "sequence", m.Sequence, "components", strings.Join(names, ","))
	return nil
}
