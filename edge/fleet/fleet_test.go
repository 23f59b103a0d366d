package fleet

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/fleetstatus"
	"github.com/sward-iot/sward/shared/topics"
)

// link stands in for the IoT Core connection: what is published arrives
// on sent, decoded with the cloud's decoder.
type link struct {
	t         *testing.T
	connected atomic.Bool
	sent      chan *fleetstatus.Message
	topic     chan string
}

func (l *link) Publish(_ context.Context, m iotcore.Message) error {
	if m.QoS != 1 {
		l.t.Errorf("fleet status published with QoS %d, want 1 (into the durable spool)", m.QoS)
	}
	msg, err := fleetstatus.DecodeMessage(m.Payload)
	if err != nil {
		l.t.Errorf("the cloud's decoder refuses the fleet status %s: %v", m.Payload, err)
		return nil
	}
	l.topic <- m.Topic
	l.sent <- msg
	return nil
}

func (l *link) State(context.Context) iotcore.State {
	return iotcore.State{Connected: l.connected.Load()}
}

func startBus(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen, o.StoreDir = "127.0.0.1:-1", "", t.TempDir()
	o.Users = []broker.User{{Name: "nucleus", Password: "secret-password"}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "nucleus")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func startService(t *testing.T, nc *nats.Conn, l *link, interval time.Duration) {
	s, err := New(Options{ThingName: "pi-1", Conn: nc, Link: l, Interval: interval, Delay: 20 * time.Millisecond, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func newLink(t *testing.T) *link {
	return &link{t: t, sent: make(chan *fleetstatus.Message, 16), topic: make(chan string, 16)}
}

func publish(t *testing.T, nc *nats.Conn, subject string, v any) {
	data, _ := json.Marshal(v)
	if err := nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func summary(m *fleetstatus.Message) string {
	var b strings.Builder
	b.WriteString(string(m.Trigger) + " " + m.Overall + ":")
	for _, c := range m.Components {
		b.WriteString(" " + c.Name + "@" + c.Version + "=" + c.State)
	}
	return b.String()
}

func expect(t *testing.T, l *link, want string) *fleetstatus.Message {
	t.Helper()
	m := testutil.Receive(t, l.sent, "fleet status "+want)
	if got := summary(m); got != want {
		t.Fatalf("fleet status %q, want %q", got, want)
	}
	return m
}

func TestTheDeviceReportsItsComponentsWhenTheLinkComesUpOnDeploymentsAndWhenOneBreaks(t *testing.T) {
	nc, js := startBus(t)
	l := newLink(t)
	startService(t, nc, l, time.Hour)

	state := func(name, version, to string) {
		publish(t, nc, ComponentStateSubject, map[string]any{"component": name, "version": version, "from": "STARTING", "to": to, "reason": "test", "at": time.Now()})
	}
	state("com.example.Sensor", "1.0.0", "RUNNING")
	state("com.example.Old", "0.9.0", "RUNNING")
	select {
	case m := <-l.sent:
		t.Fatalf("sent %q before the link connected", summary(m))
	case <-time.After(100 * time.Millisecond):
	}

	publish(t, nc, topics.CloudLinkStateSubject, map[string]any{"connected": true})
	first := expect(t, l, "NUCLEUS_LAUNCH HEALTHY: com.example.Old@0.9.0=RUNNING com.example.Sensor@1.0.0=RUNNING")
	if topic := <-l.topic; topic != "sward/pi-1/health" {
		t.Errorf("published on %q, want sward/pi-1/health", topic)
	}
	// A reconnect is not a launch.
	publish(t, nc, topics.CloudLinkStateSubject, map[string]any{"connected": true})

	// A deployment ends: its record in the deployments bucket is terminal.
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: DefaultDeploymentsBucket})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(map[string]any{"status": map[string]any{"deploymentId": "d1", "state": "SUCCEEDED",
		"components": []map[string]any{
			{"name": "com.example.Sensor", "version": "1.1.0", "previousVersion": "1.0.0", "state": "RUNNING"},
			{"name": "com.example.Old", "previousVersion": "0.9.0", "state": "REMOVED"},
		}}})
	if _, err := kv.Put(context.Background(), "deployment.d1", rec); err != nil {
		t.Fatal(err)
	}
	second := expect(t, l, "DEPLOYMENT HEALTHY: com.example.Sensor@1.1.0=RUNNING")
	if second.Sequence != first.Sequence+1 {
		t.Errorf("sequence numbers %d then %d, want one more each message", first.Sequence, second.Sequence)
	}
	// The same record again (a carried deployment rewritten) is not another report.
	if _, err := kv.Put(context.Background(), "deployment.d1", rec); err != nil {
		t.Fatal(err)
	}

	state("com.example.Sensor", "1.1.0", "BROKEN")
	expect(t, l, "BROKEN_COMPONENT UNHEALTHY: com.example.Sensor@1.1.0=BROKEN")
	select {
	case m := <-l.sent:
		t.Fatalf("unexpected report %q", summary(m))
	case <-time.After(200 * time.Millisecond):
	}
}

func TestTheDeviceReportsEveryIntervalAndAtStartWhenTheLinkIsAlreadyUp(t *testing.T) {
	nc, _ := startBus(t)
	l := newLink(t)
	l.connected.Store(true)
	startService(t, nc, l, 300*time.Millisecond)
	expect(t, l, "NUCLEUS_LAUNCH HEALTHY:")
	start := time.Now()
	expect(t, l, "CADENCE HEALTHY:")
	expect(t, l, "CADENCE HEALTHY:")
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("two cadence reports in %s, want one per 300 ms interval", d)
	}
}

func TestOptionsNameWhatIsMissing(t *testing.T) {
	_, err := New(Options{ThingName: "bad name", Interval: -time.Second})
	for _, want := range []string{"thing name", "Options.Conn", "Options.Link", "must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with bad options: %v, want an error naming %q", err, want)
		}
	}
}
