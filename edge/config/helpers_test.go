package config

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// waitTimeout bounds every broker wait and store call in these tests;
// generous for -race on a loaded machine, never reached when things work.
const waitTimeout = 10 * time.Second

const nucleusUser = "nucleus"

// startBroker runs an embedded broker with JetStream in storeDir on a
// random loopback port, without MQTT. stop shuts it down and waits; it is
// also registered as cleanup, and safe to call twice.
func startBroker(t *testing.T, storeDir string) (b *broker.Broker, stop func()) {
	t.Helper()
	b, err := broker.New(broker.Options{
		StoreDir:   storeDir,
		NATSListen: "127.0.0.1:-1",
		Users:      []broker.User{{Name: nucleusUser, Password: "nucleus-secret"}},
		Logger:     testlog.New(t),
	})
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return b, testutil.RunBroker(t, b)
}

// openStore connects to b in process and opens the configuration store.
func openStore(t *testing.T, b *broker.Broker) (*Store, jetstream.JetStream) {
	t.Helper()
	nc, err := b.Connect(nucleusUser)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	s, err := New(js, Options{Logger: testlog.New(t)})
	if err != nil {
		t.Fatalf("config.New: %v", err)
	}
	return s, js
}

// newStore is a store on a fresh broker of its own.
func newStore(t *testing.T) *Store {
	t.Helper()
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "jetstream"))
	s, _ := openStore(t, b)
	return s
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s *Store, component string, cfg map[string]any, expected uint64) uint64 {
	t.Helper()
	rev, err := s.Put(testContext(t), component, cfg, expected)
	if err != nil {
		t.Fatalf("Put(%q, rev %d): %v", component, expected, err)
	}
	return rev
}

func mustGet(t *testing.T, s *Store, component string) (map[string]any, uint64) {
	t.Helper()
	cfg, rev, err := s.Get(testContext(t), component)
	if err != nil {
		t.Fatalf("Get(%q): %v", component, err)
	}
	return cfg, rev
}
