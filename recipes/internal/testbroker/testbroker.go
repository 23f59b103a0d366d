// Package testbroker runs a real embedded nats-server for the sample
// components' tests, configured like the nucleus' broker: NATS, an MQTT
// 3.1.1 listener and the JetStream store MQTT needs, all on random loopback
// ports.
package testbroker

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sward-iot/sward/recipes/internal/component"
)

// readyTimeout is generous because JetStream creates its store on first
// start, which is slow on a loaded CI machine.
const readyTimeout = 10 * time.Second

// Start runs a broker for the duration of t and returns the environment a
// component would receive from the nucleus to reach it.
func Start(t testing.TB) component.Env {
	t.Helper()
	opts := &server.Options{
		ServerName: "sward-test",
		Host:       "127.0.0.1",
		Port:       -1,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   t.TempDir(),
	}
	opts.MQTT.Host = "127.0.0.1"
	opts.MQTT.Port = -1
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("testbroker: new server: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyTimeout) {
		t.Fatalf("testbroker: not ready for connections within %v", readyTimeout)
	}
	return component.Env{
		NATSURL:   s.ClientURL(),
		MQTTURL:   fmt.Sprintf("tcp://%s:%d", opts.MQTT.Host, opts.MQTT.Port),
		Name:      t.Name(),
		Version:   "1.0.0",
		ThingName: "test-thing",
		WorkPath:  t.TempDir(),
	}
}
