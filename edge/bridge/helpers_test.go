package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

const (
	nucleusUser = "nucleus"
	password    = "test-secret"
)

// local is the local broker: the embedded nats-server with its MQTT
// listener, and the nucleus's connection to it.
type local struct {
	b  *broker.Broker
	nc *nats.Conn
}

func startLocal(t testing.TB) *local {
	t.Helper()
	o := broker.DefaultOptions()
	o.NATSListen = "127.0.0.1:-1"
	o.MQTTListen = "127.0.0.1:-1"
	o.StoreDir = t.TempDir()
	o.Users = []broker.User{{Name: nucleusUser, Password: password}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &local{b: b, nc: testutil.StartBroker(t, b, nucleusUser)}
}

// mqttClient connects an MQTT client (a sensor) to the local broker.
func (l *local) mqttClient(t testing.TB, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + l.b.MQTTAddr()).SetClientID(id).
		SetUsername(nucleusUser).SetPassword(password).SetCleanSession(true).SetOrderMatters(true).SetAutoReconnect(false))
	wait(t, c.Connect(), "MQTT connect "+id)
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func wait(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(testutil.WaitTimeout) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// received is what an MQTT subscription got.
type received struct{ topic, payload string }

// subscribeMQTT subscribes c to filter and returns the messages, in order.
func subscribeMQTT(t testing.TB, c mqtt.Client, filter string) <-chan received {
	t.Helper()
	ch := make(chan received, 100)
	wait(t, c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		ch <- received{m.Topic(), string(m.Payload())}
	}), "MQTT subscribe "+filter)
	return ch
}

func publishMQTT(t testing.TB, c mqtt.Client, topic, payload string) {
	t.Helper()
	wait(t, c.Publish(topic, 1, false, payload), "MQTT publish "+topic)
}

// fakeLink stands in for the IoT Core connection. With echo set it
// behaves as IoT Core does for a device subscribed to what it publishes:
// every publish comes back to the matching subscriptions.
type fakeLink struct {
	echo bool
	gate chan struct{} // when set, Publish waits for it to close

	mu        sync.Mutex
	published []iotcore.Message
	subs      map[int]fakeSub
	next      int
	refuse    string // a filter Subscribe refuses
}

type fakeSub struct {
	filter string
	h      iotcore.Handler
}

func (f *fakeLink) Publish(_ context.Context, m iotcore.Message) error {
	if f.gate != nil {
		<-f.gate
	}
	if f.echo {
		f.cloudPublish(m.Topic, string(m.Payload))
	}
	f.mu.Lock()
	f.published = append(f.published, m)
	f.mu.Unlock()
	return nil
}

func (f *fakeLink) Subscribe(_ context.Context, filter string, _ byte, h iotcore.Handler) (func(context.Context) error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if filter == f.refuse {
		return nil, fmt.Errorf("IoT Core refused the subscription to %q", filter)
	}
	if f.subs == nil {
		f.subs = map[int]fakeSub{}
	}
	id := f.next
	f.next++
	f.subs[id] = fakeSub{filter, h}
	return func(context.Context) error {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
		return nil
	}, nil
}

// cloudPublish delivers a message from the cloud to the matching
// subscriptions.
func (f *fakeLink) cloudPublish(topic, payload string) {
	f.mu.Lock()
	var hs []iotcore.Handler
	for _, s := range f.subs {
		if matches(s.filter, topic) {
			hs = append(hs, s.h)
		}
	}
	f.mu.Unlock()
	for _, h := range hs {
		h(iotcore.Message{Topic: topic, Payload: []byte(payload), QoS: 1})
	}
}

func (f *fakeLink) sent() []iotcore.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]iotcore.Message(nil), f.published...)
}

func (f *fakeLink) subscriptions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// startBridge starts a Bridge on l with link (nil: none); it is shut down
// when t ends.
func startBridge(t testing.TB, l *local, link Link, ms ...Mapping) *Bridge {
	t.Helper()
	b, err := New(Options{Mappings: ms, Conn: l.nc, Link: link, Logger: testlog.New(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return b
}
