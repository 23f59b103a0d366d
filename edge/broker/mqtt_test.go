package broker

import (
	"fmt"
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestMQTTPublishReachesNATSSubscriber(t *testing.T) {
	b := runBroker(t, testOptions(t))
	nc := connect(t, b, "nucleus")
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			msgs := make(chan *nats.Msg, 4)
			sub, err := nc.ChanSubscribe("a.b", msgs)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("pub-q%d", qos), user: "sensor", pass: sensorPass})
			payload := fmt.Sprintf("hello qos%d", qos)
			wait(t, cl.Publish("a/b", qos, false, payload), "mqtt publish")

			m := testutil.Receive(t, msgs, "NATS subscriber on a.b")
			if string(m.Data) != payload {
				t.Fatalf("NATS got %q on %s, want %q", m.Data, m.Subject, payload)
			}
		})
	}
}

func TestNATSPublishReachesMQTTSubscriber(t *testing.T) {
	b := runBroker(t, testOptions(t))
	nc := connect(t, b, "nucleus")
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("sub-q%d", qos), user: "sensor", pass: sensorPass})
			msgs := mqttSubscribe(t, cl, "a/b", qos)
			payload := fmt.Sprintf("hello qos%d", qos)
			if err := nc.Publish("a.b", []byte(payload)); err != nil {
				t.Fatal(err)
			}
			m := testutil.Receive(t, msgs, "MQTT subscriber on a/b")
			if m.Topic() != "a/b" || string(m.Payload()) != payload {
				t.Fatalf("MQTT got %q on %q, want %q on a/b", m.Payload(), m.Topic(), payload)
			}
			// A plain NATS publish carries no QoS: nats-server delivers it at QoS 0.
			if m.Qos() != 0 {
				t.Fatalf("MQTT got QoS %d, want 0 for a message published from NATS", m.Qos())
			}
		})
	}
}

// TestMQTTTopicsMapToNATSSubjects pins the mapping README.md documents.
func TestMQTTTopicsMapToNATSSubjects(t *testing.T) {
	b := runBroker(t, testOptions(t))
	nc := connect(t, b, "nucleus")
	msgs := make(chan *nats.Msg, 16)
	_, err := nc.Subscribe(">", func(m *nats.Msg) {
		if !strings.HasPrefix(m.Subject, "$") { // skip JetStream and MQTT internals
			msgs <- m
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "mapper", user: "nucleus", pass: nucleusPass})

	tests := []struct{ topic, subject string }{
		{"a/b/c", "a.b.c"},
		{"temp.celsius", "temp//celsius"}, // '.' is escaped as "//"
		{"/leading", "/.leading"},         // an empty level becomes "/"
		{"trailing/", "trailing./"},
		{"a//b", "a./.b"},
	}
	for _, tt := range tests {
		wait(t, cl.Publish(tt.topic, 0, false, tt.topic), "publish "+tt.topic)
		m := testutil.Receive(t, msgs, "NATS message for MQTT topic "+tt.topic)
		if m.Subject != tt.subject || string(m.Data) != tt.topic {
			t.Errorf("MQTT topic %q arrived on NATS subject %q (payload %q), want %q", tt.topic, m.Subject, m.Data, tt.subject)
		}
	}

	t.Run("wildcards", func(t *testing.T) {
		// One client per filter: paho hands a message to every matching
		// handler of a client, which would blur which filter matched.
		plus := mqttSubscribe(t, mustMQTT(t, b.MQTTAddr(), mqttClient{id: "plus", user: "nucleus", pass: nucleusPass}), "w/+/x", 0)
		hash := mqttSubscribe(t, mustMQTT(t, b.MQTTAddr(), mqttClient{id: "hash", user: "nucleus", pass: nucleusPass}), "w/#", 0)
		if err := nc.Publish("w.y.x", []byte("1")); err != nil {
			t.Fatal(err)
		}
		if m := testutil.Receive(t, plus, "w/+/x"); m.Topic() != "w/y/x" {
			t.Errorf("w/+/x got topic %q", m.Topic())
		}
		if m := testutil.Receive(t, hash, "w/#"); m.Topic() != "w/y/x" {
			t.Errorf("w/# got topic %q", m.Topic())
		}
		// MQTT's "#" also matches the parent level, which NATS ">" does not.
		if err := nc.Publish("w", []byte("2")); err != nil {
			t.Fatal(err)
		}
		if m := testutil.Receive(t, hash, "w/# on the parent level"); m.Topic() != "w" {
			t.Errorf("w/# got topic %q, want w", m.Topic())
		}
	})
}

func TestMQTTPersistentSessionKeepsQoS1AcrossRestart(t *testing.T) {
	o := testOptions(t)
	b := runBroker(t, o)

	sub := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "durable-sub", user: "sensor", pass: sensorPass, persistent: true})
	mqttSubscribe(t, sub, "a/durable", 1)
	sub.Disconnect(250)
	// Publish only once the broker has seen the subscriber go: a message
	// handed to its closing connection waits out the consumer's ack wait
	// (30 s) before redelivery, which is not what this test is about.
	testutil.Eventually(t, "the subscriber's connection to close", func() error {
		conns, err := b.Server().Connz(&server.ConnzOptions{MQTTClient: "durable-sub"})
		if err != nil {
			return err
		}
		if len(conns.Conns) != 0 {
			return fmt.Errorf("durable-sub still connected")
		}
		return nil
	})

	pub := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "durable-pub", user: "sensor", pass: sensorPass})
	wait(t, pub.Publish("a/durable", 1, false, "kept"), "publish while the subscriber is away") // PUBACK = stored
	pub.Disconnect(250)

	b.Shutdown()
	b.WaitForShutdown()
	b2 := runBroker(t, o) // same StoreDir, new ports

	got := make(chan mqtt.Message, 4)
	mustMQTT(t, b2.MQTTAddr(), mqttClient{
		id: "durable-sub", user: "sensor", pass: sensorPass, persistent: true,
		onMessage: func(_ mqtt.Client, m mqtt.Message) { got <- m },
	})
	m := testutil.Receive(t, got, "stored QoS1 message after restart")
	if m.Topic() != "a/durable" || string(m.Payload()) != "kept" || m.Qos() != 1 {
		t.Fatalf("got %q on %q qos %d, want \"kept\" on a/durable qos 1", m.Payload(), m.Topic(), m.Qos())
	}
}
