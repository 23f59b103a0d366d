package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/ipc/op"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// changes is a ConfigWatcher whose changes the test sends.
type changes chan config.Change

func (c changes) Watch(ctx context.Context) (<-chan config.Change, error) {
	out := make(chan config.Change)
	go func() {
		defer close(out)
		for {
			select {
			case ch := <-c:
				out <- ch
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// env is a started Registry, its operation table and a connection on which
// the test sees the events.
type env struct {
	r       *Registry
	table   *op.Table
	nc      *nats.Conn
	changes changes
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, err := broker.New(broker.Options{NATSListen: "127.0.0.1:-1", StoreDir: t.TempDir(),
		Users: []broker.User{{Name: "nucleus", Password: "nucleus-secret"}}, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "nucleus")
	ch := make(changes)
	r, err := New(Options{Conn: nc, Config: ch, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	table := op.NewTable()
	r.RegisterIPC(table)
	return &env{r: r, table: table, nc: nc, changes: ch}
}

// call runs operation name for caller as the IPC front end would.
func (e *env) call(t *testing.T, caller, name, body string) error {
	t.Helper()
	o, ok := e.table.Lookup(name)
	if !ok {
		t.Fatalf("%s is not registered", name)
	}
	_, err := o.Handle(t.Context(), &op.Call{Caller: caller, Name: name, Body: []byte(body),
		Authorize: func(string, string, string) error { return nil }})
	return err
}

// events delivers what component receives of kind.
func (e *env) events(t *testing.T, component, kind string) <-chan []byte {
	t.Helper()
	out := make(chan []byte, 16)
	sub, err := e.nc.Subscribe(wire.EventSubject(component, kind), func(m *nats.Msg) { out <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNotifyWaitsWhileASubscriberDefersAndEndsWhenItGoesAhead(t *testing.T) {
	e := newEnv(t)
	const a = "com.example.A"
	got := e.events(t, a, wire.EventComponentUpdates)
	if err := e.call(t, a, wire.OpSubscribeToComponentUpdates, `{}`); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.r.Notify(context.Background(), "d1", time.Minute)
	}()
	for i, recheck := range []int{50, 0} { // defer once, then go ahead
		var ev wire.ComponentUpdatePolicyEvents
		if err := json.Unmarshal(testutil.Receive(t, got, fmt.Sprintf("pre-update event %d", i+1)), &ev); err != nil || ev.PreUpdateEvent == nil || ev.PreUpdateEvent.DeploymentID != "d1" {
			t.Fatalf("event %d = %+v (%v); want a pre-update event of d1", i+1, ev, err)
		}
		if err := e.call(t, a, wire.OpDeferComponentUpdate, fmt.Sprintf(`{"deploymentId":"d1","recheckAfterMs":%d}`, recheck)); err != nil {
			t.Fatalf("DeferComponentUpdate: %v", err)
		}
	}
	testutil.Receive(t, done, "Notify to return once the subscriber went ahead")

	if err := e.call(t, a, wire.OpDeferComponentUpdate, `{"deploymentId":"d1"}`); wire.AsError(err).Code != wire.CodeResourceNotFound {
		t.Errorf("a deferral after the wait ended = %v; want ResourceNotFoundError", err)
	}
	e.r.Updated("d1")
	var ev wire.ComponentUpdatePolicyEvents
	if err := json.Unmarshal(testutil.Receive(t, got, "post-update event"), &ev); err != nil || ev.PostUpdateEvent == nil {
		t.Fatalf("after Updated = %+v (%v); want a post-update event", ev, err)
	}
}

func TestAForgottenSessionHoldsNoDeployment(t *testing.T) {
	e := newEnv(t)
	if err := e.call(t, "com.example.Gone", wire.OpSubscribeToComponentUpdates, `{}`); err != nil {
		t.Fatal(err)
	}
	e.r.Forget("com.example.Gone")
	start := time.Now()
	e.r.Notify(context.Background(), "d1", time.Minute)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Notify waited %s for a component whose session ended; want no wait", took)
	}
}

func TestConfigurationChangesReachTheSubscribersOfTheirKeyPath(t *testing.T) {
	e := newEnv(t)
	const a = "com.example.A"
	got := e.events(t, a, wire.EventConfigurationUpdate)
	if err := e.call(t, a, wire.OpSubscribeToConfigurationUpdate, `{"keyPath":["settings"]}`); err != nil {
		t.Fatal(err)
	}
	e.changes <- config.Change{Component: a, Config: map[string]any{"settings": map[string]any{"level": 1.0}, "other": 1.0}}
	e.changes <- config.Change{Component: a, Config: map[string]any{"settings": map[string]any{"level": 3.0}, "other": 2.0}}
	var paths [][]string
	for len(paths) < 2 {
		var ev wire.ConfigurationUpdateEvents
		if err := json.Unmarshal(testutil.Receive(t, got, "configuration update"), &ev); err != nil || ev.ConfigurationUpdateEvent == nil {
			t.Fatalf("event = %+v (%v); want a configuration update", ev, err)
		}
		paths = append(paths, ev.ConfigurationUpdateEvent.KeyPath)
	}
	if !slices.EqualFunc(paths, [][]string{{"settings", "level"}, {"settings", "level"}}, slices.Equal) {
		t.Errorf("key paths %v; want settings/level, new and then changed (never other)", paths)
	}
	if err := e.call(t, a, wire.OpSubscribeToConfigurationUpdate, `{"keyPath":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u","v","w","x","y","z","aa","bb","cc","dd","ee","ff","gg"]}`); wire.AsError(err).Code != wire.CodeInvalidArguments {
		t.Errorf("a key path deeper than a configuration = %v; want InvalidArgumentsError", err)
	}
}
