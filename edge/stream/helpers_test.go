package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// waitTimeout bounds every wait in these tests; generous for -race on a
// loaded machine, never reached when things work.
const waitTimeout = 15 * time.Second

const testUser = "nucleus"

// env is a broker and a started Manager on it.
type env struct {
	storeDir string
	broker   *broker.Broker
	nc       *nats.Conn
	m        *Manager
}

// newBroker is the broker of these tests: loopback, JetStream on
// storeDir, no MQTT; started by testutil (RunBroker, StartBroker, Serve).
func newBroker(storeDir string, log *slog.Logger) (*broker.Broker, error) {
	o := broker.DefaultOptions()
	o.NATSListen = "127.0.0.1:-1"
	o.MQTTListen = ""
	o.StoreDir = storeDir
	o.Users = []broker.User{{Name: testUser, Password: "test-secret"}}
	o.Logger = log
	return broker.New(o)
}

// newEnv starts a broker on a fresh store (or storeDir when given) and a
// Manager with opts (Conn, JetStreamStoreDir and Logger filled in), all
// stopped when the test ends.
func newEnv(t testing.TB, storeDir string, opts Options) *env {
	t.Helper()
	if storeDir == "" {
		storeDir = filepath.Join(t.TempDir(), "jetstream")
	}
	log := testlog.New(t)
	b, err := newBroker(storeDir, log)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	nc := testutil.StartBroker(t, b, testUser)
	opts.Conn = nc
	opts.JetStreamStoreDir = storeDir
	if opts.Logger == nil {
		opts.Logger = log
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(m.Shutdown)
	return &env{storeDir: storeDir, broker: b, nc: nc, m: m}
}

// def is a valid definition to vary in tests.
func def(name string) ipc.MessageStreamDefinition {
	return ipc.MessageStreamDefinition{Name: name, StrategyOnFull: ipc.RejectNewData}
}

func mustCreate(t testing.TB, m *Manager, d ipc.MessageStreamDefinition) {
	t.Helper()
	if err := m.Create(context.Background(), d); err != nil {
		t.Fatalf("Create %q: %v", d.Name, err)
	}
}

func mustAppend(t testing.TB, m *Manager, stream string, payload []byte) int64 {
	t.Helper()
	seq, err := m.Append(context.Background(), stream, payload)
	if err != nil {
		t.Fatalf("Append to %q: %v", stream, err)
	}
	return seq
}

// wantCode fails unless err is an *ipc.Error with code.
func wantCode(t testing.TB, err error, code string) *ipc.Error {
	t.Helper()
	var e *ipc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an *ipc.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%s), want %s", e.Code, e.Message, code)
	}
	return e
}

func payloadOf(i int) []byte { return fmt.Appendf(nil, "message-%06d", i) }
