package rules

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sward-iot/sward/infra/devcloud/template"
)

// Rule is a compiled topic rule: its SQL, actions and error action.
type Rule struct {
	Name        string
	query       *Query
	actions     []action
	errorAction action

	mu    sync.Mutex
	count Count
}

// Count is a rule's counts since its engine started, for `devcloud
// status`.
type Count struct {
	Name string
	// Fired counts the messages that matched the rule (FROM and WHERE).
	Fired int64
	// Failures counts the actions that failed (and went to the
	// errorAction, if any); LastError is the last one's message.
	Failures  int64
	LastError string
}

// Compile checks a template rule: its SQL version and SQL, and every
// action; anything devcloud does not run is an error naming the rule and
// the construct.
func Compile(r template.TopicRule) (*Rule, error) {
	wrap := func(err error) error { return fmt.Errorf("rule %s (%s): %w", r.Name, r.LogicalID, err) }
	// IoT Core runs a rule without a version as 2015-10-08, whose
	// semantics devcloud does not reproduce.
	if r.SQLVersion != "2016-03-23" {
		return nil, wrap(fmt.Errorf("%w: AwsIotSqlVersion %q: devcloud evaluates 2016-03-23 only", ErrUnsupported, r.SQLVersion))
	}
	q, err := Parse(r.SQL)
	if err != nil {
		return nil, wrap(err)
	}
	rule := &Rule{Name: r.Name, query: q}
	for _, a := range r.Actions {
		act, err := compileAction(a)
		if err != nil {
			return nil, wrap(err)
		}
		rule.actions = append(rule.actions, act)
	}
	if r.ErrorAction != nil {
		if rule.errorAction, err = compileAction(r.ErrorAction); err != nil {
			return nil, wrap(fmt.Errorf("ErrorAction: %w", err))
		}
	}
	return rule, nil
}

// From is the rule's topic filter.
func (r *Rule) From() string { return r.query.From }

// Engine runs rules on messages.
type Engine struct {
	rules    []*Rule
	clients  *Clients
	requests *slog.Logger
	ctx      context.Context
}

// NewEngine runs rules with clients, logging each firing and action to
// requests. ctx ends the actions still running at shutdown.
func NewEngine(ctx context.Context, rules []*Rule, clients *Clients, requests *slog.Logger) *Engine {
	if requests == nil {
		requests = slog.New(slog.DiscardHandler)
	}
	return &Engine{rules: rules, clients: clients, requests: requests, ctx: ctx}
}

// Counts are each rule's counts, in the template's order.
func (e *Engine) Counts() []Count {
	out := make([]Count, 0, len(e.rules))
	for _, r := range e.rules {
		r.mu.Lock()
		c := r.count
		r.mu.Unlock()
		c.Name = r.Name
		out = append(out, c)
	}
	return out
}

// Filters are the distinct FROM filters of the rules: what the engine
// subscribes to on the endpoint.
func (e *Engine) Filters() []string {
	var out []string
	for _, r := range e.rules {
		if !contains(out, r.From()) {
			out = append(out, r.From())
		}
	}
	return out
}

// Handle evaluates every rule whose FROM matches m and runs the actions of
// those whose WHERE holds, in the background: the caller is the
// endpoint's publish path.
func (e *Engine) Handle(m Message) {
	if m.Now.IsZero() {
		m.Now = time.Now()
	}
	for _, r := range e.rules {
		if !r.query.Matches(m.Topic) {
			continue
		}
		out, ok, err := r.query.Evaluate(m)
		if err != nil {
			e.requests.Warn("rule SQL failed", "rule", r.Name, "topic", m.Topic, "clientId", m.ClientID, "error", err)
			continue
		}
		if !ok {
			continue
		}
		r.mu.Lock()
		r.count.Fired++
		r.mu.Unlock()
		go e.fire(r, m, out)
	}
}

// failure is one entry of an error action's failures.
type failure struct {
	FailedAction   string `json:"failedAction"`
	FailedResource string `json:"failedResource"`
	ErrorMessage   string `json:"errorMessage"`
}

// errorMessage is what an error action receives: one per rule and
// message, with every failed action.
type errorMessage struct {
	RuleName              string    `json:"ruleName"`
	Topic                 string    `json:"topic"`
	CloudwatchTraceID     string    `json:"cloudwatchTraceId"`
	ClientID              string    `json:"clientId"`
	Base64OriginalPayload string    `json:"base64OriginalPayload"`
	Failures              []failure `json:"failures"`
}

func (e *Engine) fire(r *Rule, m Message, payload []byte) {
	trace := uuid.NewString()
	e.requests.Info("rule fired", "rule", r.Name, "topic", m.Topic, "clientId", m.ClientID, "traceId", trace, "bytes", len(payload))
	type result struct {
		a   action
		err error
	}
	results := make(chan result, len(r.actions))
	for _, a := range r.actions { // IoT Core runs a rule's actions in parallel
		go func() { results <- result{a, e.run("rule action", r, a, m, payload, trace)} }()
	}
	var failures []failure
	for range r.actions {
		res := <-results
		if res.err != nil {
			failures = append(failures, failure{FailedAction: res.a.name(), FailedResource: res.a.resource(m), ErrorMessage: res.err.Error() + ". Message arrived on: " + m.Topic})
		}
	}
	if len(failures) == 0 {
		return
	}
	r.mu.Lock()
	r.count.Failures += int64(len(failures))
	r.count.LastError = failures[len(failures)-1].FailedAction + " " + failures[len(failures)-1].FailedResource + ": " + failures[len(failures)-1].ErrorMessage
	r.mu.Unlock()
	if r.errorAction == nil {
		e.requests.Warn("rule actions failed and the rule has no error action", "rule", r.Name, "traceId", trace, "failures", len(failures))
		return
	}
	doc, _ := json.Marshal(errorMessage{
		RuleName: r.Name, Topic: m.Topic, CloudwatchTraceID: trace, ClientID: m.ClientID,
		Base64OriginalPayload: base64.StdEncoding.EncodeToString(m.Payload), Failures: failures,
	})
	if err := e.run("rule error action", r, r.errorAction, m, doc, trace); err != nil {
		e.requests.Error("rule error action failed too: the failure is lost", "rule", r.Name, "traceId", trace)
	}
}

// run runs one action and logs it as msg.
func (e *Engine) run(msg string, r *Rule, a action, m Message, payload []byte, trace string) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, actionTimeout)
	err := a.run(ctx, e.clients, r.Name, m, payload)
	cancel()
	attrs := []any{"rule", r.Name, "action", strings.TrimSuffix(a.name(), "Action"), "resource", a.resource(m), "traceId", trace,
		"durationMs", float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		e.requests.Warn(msg, append(attrs, "result", "error", "error", err)...)
		return err
	}
	e.requests.Info(msg, append(attrs, "result", "ok")...)
	return nil
}
