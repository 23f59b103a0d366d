package nucleus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sward-iot/sward/edge/bridge"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

func TestTheBridgeRunsItsMappingsAndBadOnesLeaveTheNucleusRunning(t *testing.T) {
	start := func(t *testing.T, ms ...bridge.Mapping) (*Nucleus, *testlog.Buffer) {
		t.Helper()
		log := &testlog.Buffer{}
		n, err := New(Options{Root: t.TempDir(), NATSListen: "127.0.0.1:-1", MQTTListen: "off", MetricsListen: "off",
			RunAs: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), KeepStartupPages: true, ThingName: "bridge-thing",
			Bridge: ms, Logger: slog.New(slog.NewTextHandler(log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			t.Fatalf("Start: %v", err)
		}
		t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
		return n, log
	}

	t.Run("a local mapping", func(t *testing.T) {
		n, _ := start(t, bridge.Mapping{Name: "Copy", Topic: "in/#", Source: bridge.LocalMqtt, Target: bridge.Pubsub, TargetTopicPrefix: "out/"})
		ch := make(chan *nats.Msg, 1)
		sub, err := n.nc.ChanSubscribe("out.in.x", ch)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := n.nc.Publish("in.x", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if m := testutil.Receive(t, ch, "the bridged message on out/in/x"); string(m.Data) != "v" || m.Header.Get(bridge.Header) != "Copy" {
			t.Errorf("got %q header %q", m.Data, m.Header.Get(bridge.Header))
		}
		// Counted just after the publish the subscriber may already have.
		testutil.Eventually(t, "the bridge's count on /metrics", func() error {
			return promtest.GatherAndCompare(n.metrics.Registry, strings.NewReader(`
# HELP sward_bridge_messages_total Messages the MQTT bridge delivered to the mapping's target (for IotCore: into the spool).
# TYPE sward_bridge_messages_total counter
sward_bridge_messages_total{mapping="Copy"} 1
`), "sward_bridge_messages_total")
		})
	})
	for _, tt := range []struct {
		name string
		m    bridge.Mapping
		want string
	}{
		{"a bad filter", bridge.Mapping{Name: "Bad", Topic: "a/#/b", Source: bridge.LocalMqtt, Target: bridge.Pubsub}, `mapping \"Bad\": topic`},
		{"IoT Core without a link", bridge.Mapping{Name: "Up", Topic: "a", Source: bridge.LocalMqtt, Target: bridge.IotCore}, `mapping \"Up\": target IotCore needs the link`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, log := start(t, tt.m)
			testutil.Until(t, "the error in the log", func() bool {
				return strings.Contains(log.String(), "MQTT bridge not started") && strings.Contains(log.String(), tt.want)
			})
			if n.nc == nil || !n.nc.IsConnected() {
				t.Errorf("the nucleus is not running")
			}
		})
	}
}
