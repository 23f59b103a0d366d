package iotcore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

const (
	thing    = "test-thing"
	nucleus  = "nucleus"
	password = "test-secret"
)

// cloud is the IoT Core stand-in: mosquitto with mutual TLS behind a link
// the test can cut, and an observer connected to it directly.
type cloud struct {
	mosq  *testutil.Mosquitto
	link  *testutil.Proxy
	watch *observer
}

func startCloud(t testing.TB) *cloud {
	t.Helper()
	m := testutil.StartMosquitto(t, thing)
	c := &cloud{mosq: m, link: testutil.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", m.Port))}
	c.watch = newObserver(t, m)
	return c
}

// options are Options for the cloud's link, with a fast backoff.
func (c *cloud) options(t testing.TB, js jetstream.JetStream) Options {
	return Options{
		ThingName:  thing,
		Endpoint:   "127.0.0.1",
		Port:       c.link.Port(),
		CertFile:   c.mosq.PKI.ClientCert,
		KeyFile:    c.mosq.PKI.ClientKey,
		RootCAFile: c.mosq.PKI.CAFile,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		JetStream:  js,
		Logger:     testlog.New(t),
	}
}

// startJetStream runs an embedded broker on storeDir (new when empty).
func startJetStream(t testing.TB, storeDir string) (*broker.Broker, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	o := broker.DefaultOptions()
	o.NATSListen = "127.0.0.1:-1"
	o.MQTTListen = ""
	o.StoreDir = storeDir
	o.Users = []broker.User{{Name: nucleus, Password: password}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, nucleus)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return b, nc, js
}

// start builds and starts a Service; it is shut down when t ends.
func start(t testing.TB, opts Options) *Service {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func waitConnected(t testing.TB, s *Service, want bool) {
	t.Helper()
	testutil.Until(t, fmt.Sprintf("connected = %v", want), func() bool {
		return s.State(context.Background()).Connected == want
	})
}

// observer is a client of the stand-in that records every message on
// every topic, in arrival order.
type observer struct {
	client mqtt.Client
	mu     sync.Mutex
	msgs   []Message
}

func newObserver(t testing.TB, m *testutil.Mosquitto) *observer {
	t.Helper()
	o := &observer{}
	opts := Options{Endpoint: "127.0.0.1", Port: m.Port, CertFile: m.PKI.ClientCert, KeyFile: m.PKI.ClientKey, RootCAFile: m.PKI.CAFile}
	cfg, err := opts.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	o.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tls://" + opts.address()).
		SetClientID("observer").SetTLSConfig(cfg).SetCleanSession(true).SetOrderMatters(true))
	if tok := o.client.Connect(); !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	tok := o.client.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		o.mu.Lock()
		o.msgs = append(o.msgs, Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos()})
		o.mu.Unlock()
	})
	if !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { o.client.Disconnect(0) })
	return o
}

func (o *observer) received() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Message(nil), o.msgs...)
}

// publish sends a message from the cloud side, QoS 1.
func (o *observer) publish(t testing.TB, topic, payload string) {
	t.Helper()
	if tok := o.client.Publish(topic, 1, false, payload); !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Fatalf("observer publish: %v", tok.Error())
	}
}
