// Command ipcprobe is a test component: run by the nucleus, it reads
// "checks" from its own configuration over the IPC, tries each (a publish, a
// subscription, an operation) and writes the outcome of each to
// $SWARD_WORK_PATH/results.jsonl; then it stays up and records the events it
// subscribed to in events.jsonl, answering validation and update events as
// its configuration says, and the IoT Core messages of the filters in
// iotCoreSubscribe. With the argument "startup" it reports RUNNING
// through UpdateState first (for a Startup step).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/ipc/client"
)

// Check is one thing to try.
type Check struct {
	Name string `json:"name"`
	Pub  string `json:"pub,omitempty"`
	Sub  string `json:"sub,omitempty"`
	Call string `json:"call,omitempty"`
	Raw  string `json:"raw,omitempty"` // sent as the body as it is
	// Reply, with Pub: publish with this reply subject (no answer awaited).
	Reply string `json:"reply,omitempty"`
	// Via, with Pub: first receive a message on Via carrying Pub as its
	// reply subject (the allow_responses trick), then try the publish.
	Via  string          `json:"via,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Result is what a check did: OK, or the error code (PermissionViolation for
// a broker refusal) and message.
type Result struct {
	Name    string          `json:"name"`
	OK      bool            `json:"ok"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Reply   json.RawMessage `json:"reply,omitempty"`
}

type probe struct {
	c      *client.Client
	dir    string
	mu     sync.Mutex
	errs   chan error
	events *os.File
}

func main() {
	p := &probe{dir: os.Getenv(wire.EnvWorkPath), errs: make(chan error, 64)}
	env := client.FromEnv()
	_ = os.WriteFile(filepath.Join(p.dir, "identity.json"), mustJSON(map[string]string{
		"user": env.User, "password": env.Password, "inbox": env.Inbox, "url": env.NATSURL}), 0o600)
	var err error
	p.events, err = os.OpenFile(filepath.Join(p.dir, "events.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fail(err)
	}
	p.c, err = client.Connect(
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { p.errs <- err }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { p.event("disconnected", map[string]any{"error": errString(err)}) }),
	)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if len(os.Args) > 1 && os.Args[1] == "startup" {
		if err := p.c.UpdateState(ctx, "RUNNING"); err != nil {
			fail(err)
		}
	}
	cfg, err := p.c.GetConfiguration(ctx)
	if err != nil {
		fail(err)
	}
	p.subscribe(ctx, cfg)
	var checks []Check
	raw, _ := json.Marshal(cfg["checks"])
	_ = json.Unmarshal(raw, &checks)
	out, err := os.Create(filepath.Join(p.dir, "results.tmp"))
	if err != nil {
		fail(err)
	}
	for _, ch := range checks {
		_, _ = out.Write(append(mustJSON(p.run(ctx, ch)), '\n'))
	}
	_ = out.Close()
	_ = os.Rename(filepath.Join(p.dir, "results.tmp"), filepath.Join(p.dir, "results.jsonl"))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	p.c.Close()
}

// subscribe takes the subscriptions the configuration asks for.
func (p *probe) subscribe(ctx context.Context, cfg map[string]any) {
	if kp, ok := cfg["watchKeyPath"].([]any); ok {
		var path []string
		for _, k := range kp {
			path = append(path, k.(string))
		}
		if _, err := p.c.SubscribeToConfigurationUpdate(ctx, "", path, func(ev wire.ConfigurationUpdateEvent) {
			p.event("configurationUpdate", ev)
		}); err != nil {
			fail(err)
		}
	}
	if filters, ok := cfg["iotCoreSubscribe"].([]any); ok {
		for _, f := range filters {
			filter, _ := f.(string)
			if _, err := p.c.SubscribeToIoTCore(ctx, filter, wire.QoSAtLeastOnce, func(m wire.MQTTMessage) {
				p.event("iotCoreMessage", map[string]string{"filter": filter, "topic": m.TopicName, "payload": string(m.Payload)})
			}); err != nil {
				p.event("iotCoreSubscribeFailed", map[string]string{"filter": filter, "error": err.Error()})
			}
		}
	}
	if cfg["validate"] == true {
		if _, err := p.c.SubscribeToValidateConfigurationUpdates(ctx, func(ev wire.ValidateConfigurationUpdateEvent) {
			p.event("validate", ev)
			valid := ev.Configuration["reject"] != true
			go func() { _ = p.c.SendConfigurationValidityReport(ctx, ev.DeploymentID, valid, "reject is set") }()
		}); err != nil {
			fail(err)
		}
	}
	if n, ok := cfg["deferTimes"].(float64); ok {
		left := int(n) // -1: defer forever
		var mu sync.Mutex
		if _, err := p.c.SubscribeToComponentUpdates(ctx, func(ev wire.ComponentUpdatePolicyEvents) {
			if ev.PostUpdateEvent != nil {
				p.event("postUpdate", ev.PostUpdateEvent)
				return
			}
			p.event("preUpdate", ev.PreUpdateEvent)
			mu.Lock()
			recheck := time.Duration(0)
			if left != 0 {
				recheck = 300 * time.Millisecond
				if left > 0 {
					left--
				}
			}
			mu.Unlock()
			go func() { _ = p.c.DeferComponentUpdate(ctx, ev.PreUpdateEvent.DeploymentID, "busy", recheck) }()
		}); err != nil {
			fail(err)
		}
	}
}

func (p *probe) run(ctx context.Context, ch Check) Result {
	r := Result{Name: ch.Name}
	nc := p.c.Conn()
	drain := func() {
		for {
			select {
			case <-p.errs:
			default:
				return
			}
		}
	}
	// The broker's -ERR for a refused publish or subscription arrives
	// before the flush's PONG, and nats.go records it as the connection's
	// last error before it handles the PONG: after Flush the answer is
	// known, no waiting needed.
	refused := func(subject string) bool {
		err := nc.LastError()
		if err != nil && errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
			r.Code, r.Message = "PermissionViolation", err.Error()
			return true
		}
		return false
	}
	switch {
	case ch.Pub != "":
		drain()
		if ch.Via != "" {
			sub, err := nc.SubscribeSync(ch.Via)
			if err == nil {
				_ = nc.Flush()
				_ = nc.PublishMsg(&nats.Msg{Subject: ch.Via, Reply: ch.Pub, Data: []byte("bounce")})
				_, err = sub.NextMsg(2 * time.Second)
				_ = sub.Unsubscribe()
			}
			if err != nil {
				r.Code, r.Message = "ViaFailed", err.Error()
				return r
			}
		}
		err := nc.PublishMsg(&nats.Msg{Subject: ch.Pub, Reply: ch.Reply, Data: []byte("probe")})
		if err == nil {
			err = nc.Flush()
		}
		r.OK = err == nil && !refused(ch.Pub)
	case ch.Sub != "":
		drain()
		sub, err := nc.SubscribeSync(ch.Sub)
		if err == nil {
			err = nc.Flush()
		}
		r.OK = err == nil && !refused(ch.Sub)
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	case ch.Call != "":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body := []byte(ch.Raw)
		if ch.Raw == "" {
			body = ch.Body
			if len(body) == 0 {
				body = []byte("{}")
			}
		}
		m, err := nc.RequestWithContext(ctx, p.c.Env().IPCPrefix+"."+ch.Call, body)
		switch {
		case err != nil:
			r.Code, r.Message = "RequestFailed", err.Error()
		case wire.DecodeError(m.Data) != nil:
			e := wire.DecodeError(m.Data)
			r.Code, r.Message = e.Code, e.Message
		default:
			r.OK, r.Reply = true, m.Data
		}
	}
	return r
}

func (p *probe) event(kind string, v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.events.Write(append(mustJSON(map[string]any{"kind": kind, "event": v, "at": time.Now().UnixMilli()}), '\n'))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func fail(err error) {
	_, _ = os.Stderr.WriteString("ipcprobe: " + err.Error() + "\n")
	os.Exit(1)
}
