package shadow

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// waitTimeout bounds every wait in these tests; generous for -race on a
// loaded machine, never reached when things work.
const waitTimeout = 10 * time.Second

const (
	nucleusUser = "nucleus"
	nucleusPass = "nucleus-secret"
	deviceUser  = "device"
	devicePass  = "device-secret"
)

// epoch is the fixed clock of tests that compare timestamps.
var epoch = time.Unix(1700000000, 0)

// startBroker runs an embedded broker with JetStream in storeDir and an
// MQTT listener, on random loopback ports. stop shuts it down and waits;
// it is also registered as cleanup and safe to call twice.
func startBroker(t testing.TB, storeDir string) (b *broker.Broker, stop func()) {
	t.Helper()
	b, err := broker.New(broker.Options{
		StoreDir:   storeDir,
		NATSListen: "127.0.0.1:-1",
		MQTTListen: "127.0.0.1:-1",
		Users: []broker.User{
			{Name: nucleusUser, Password: nucleusPass},
			{Name: deviceUser, Password: devicePass, Permissions: broker.Permissions{
				PublishAllow:   []string{"$aws.things.>"},
				SubscribeAllow: []string{"$aws.things.>"},
			}},
		},
		Logger: testlog.New(t),
	})
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return b, testutil.RunBroker(t, b)
}

// connect opens an in-process connection as the nucleus user.
func connect(t testing.TB, b *broker.Broker) *nats.Conn {
	t.Helper()
	nc, err := b.Connect(nucleusUser)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startService starts a Service on its own connection to b; opts may
// adjust the options (Conn and Logger are set already).
func startService(t testing.TB, b *broker.Broker, opts Options) *Service {
	t.Helper()
	opts.Conn = connect(t, b)
	if opts.Logger == nil {
		opts.Logger = testlog.New(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("shadow.New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// fixedClock is Options for deterministic documents: the clock stands at
// epoch and the rate limit is off (a clock that never moves never refills).
func fixedClock() Options {
	return Options{Now: func() time.Time { return epoch }, RequestsPerSecondPerThing: -1}
}

// newEnv is a fresh broker with a started service and a client connection.
func newEnv(t testing.TB, opts Options) (*Service, *nats.Conn, *broker.Broker) {
	t.Helper()
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	s := startService(t, b, opts)
	return s, connect(t, b), b
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// subscribe collects messages on subject.
func subscribe(t testing.TB, nc *nats.Conn, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ch
}

// natsRequest sends a NATS request and returns the reply body.
func natsRequest(t testing.TB, nc *nats.Conn, subject, body string) []byte {
	t.Helper()
	m, err := nc.Request(subject, []byte(body), waitTimeout)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	return m.Data
}

// jsonEqual compares two JSON documents by value and reports the got one
// on failure.
func jsonEqual(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want JSON %q: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// field decodes one top-level field of a JSON document.
func field[T any](t testing.TB, doc []byte, name string) T {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("document %q: %v", doc, err)
	}
	var v T
	if err := json.Unmarshal(m[name], &v); err != nil {
		t.Fatalf("field %q of %s: %v", name, doc, err)
	}
	return v
}

func mustUpdate(t testing.TB, s *Service, thing, name, doc string) []byte {
	t.Helper()
	out, err := s.Update(testContext(t), thing, name, []byte(doc))
	if err != nil {
		t.Fatalf("Update(%s, %q, %.200s): %v", thing, name, doc, err)
	}
	return out
}

func mustGet(t testing.TB, s *Service, thing, name string) []byte {
	t.Helper()
	out, err := s.Get(testContext(t), thing, name)
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", thing, name, err)
	}
	return out
}
