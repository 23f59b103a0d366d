package shadow

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/internal/testutil"
)

// dialMQTT connects a paho client (what the AWS IoT Device SDKs are built
// like) to the broker's MQTT listener as the device user.
func dialMQTT(t *testing.T, addr, clientID string) mqtt.Client {
	t.Helper()
	cl := mqtt.NewClient(mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetUsername(deviceUser).
		SetPassword(devicePass).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(waitTimeout))
	waitToken(t, cl.Connect(), "connect")
	t.Cleanup(func() { cl.Disconnect(0) })
	return cl
}

func waitToken(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("mqtt %s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtt %s: %v", what, err)
	}
}

func mqttSubscribe(t *testing.T, cl mqtt.Client, topic string) chan []byte {
	t.Helper()
	ch := make(chan []byte, 32)
	tok := cl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { ch <- m.Payload() })
	waitToken(t, tok, "subscribe "+topic)
	if st := tok.(*mqtt.SubscribeToken); st.Result()[topic] == 0x80 {
		t.Fatalf("subscribe %s: refused by the broker", topic)
	}
	return ch
}

func mqttPublish(t *testing.T, cl mqtt.Client, topic, payload string) {
	t.Helper()
	waitToken(t, cl.Publish(topic, 1, false, payload), "publish "+topic)
}

// TestMQTTClientDrivesAShadowAsOnIoTCore: a plain MQTT client uses only
// IoT Core's topics: desired update → accepted and delta, reported update
// → accepted without delta, get shows the delta cleared, a stale version
// and malformed JSON come back on /rejected; named shadows the same.
func TestMQTTClientDrivesAShadowAsOnIoTCore(t *testing.T) {
	_, _, b := newEnv(t, fixedClock())
	app := dialMQTT(t, b.MQTTAddr(), "app")
	dev := dialMQTT(t, b.MQTTAddr(), "lamp-1")
	topic := func(op, result string) string { return Topic("lamp-1", "", op, result) }
	accepted := mqttSubscribe(t, app, topic(OpUpdate, ResultAccepted))
	rejected := mqttSubscribe(t, app, topic(OpUpdate, ResultRejected))
	docs := mqttSubscribe(t, app, topic(OpUpdate, ResultDocuments))
	delta := mqttSubscribe(t, dev, topic(OpUpdate, ResultDelta))
	got := mqttSubscribe(t, dev, topic(OpGet, ResultAccepted))

	mqttPublish(t, app, topic(OpUpdate, ""), `{"state":{"desired":{"color":"red","on":true}},"clientToken":"app-1"}`)
	jsonEqual(t, "accepted 1", testutil.Receive(t, accepted, "update/accepted"),
		`{"state":{"desired":{"color":"red","on":true}},"metadata":{"desired":{"color":{"timestamp":1700000000},"on":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000,"clientToken":"app-1"}`)
	jsonEqual(t, "delta 1", testutil.Receive(t, delta, "update/delta"),
		`{"state":{"color":"red","on":true},"metadata":{"color":{"timestamp":1700000000},"on":{"timestamp":1700000000}},"version":1,"timestamp":1700000000,"clientToken":"app-1"}`)
	testutil.Receive(t, docs, "documents 1")

	// The device acts on the delta and reports; no new delta follows.
	mqttPublish(t, dev, topic(OpUpdate, ""), `{"state":{"reported":{"color":"red","on":true}},"clientToken":"dev-1"}`)
	if v := field[int](t, testutil.Receive(t, accepted, "update/accepted 2"), "version"); v != 2 {
		t.Fatalf("reported update accepted as version %d, want 2", v)
	}
	testutil.Receive(t, docs, "documents 2")
	mqttPublish(t, dev, topic(OpGet, ""), `{"clientToken":"dev-2"}`)
	jsonEqual(t, "get after reporting", testutil.Receive(t, got, "get/accepted"),
		`{"state":{"desired":{"color":"red","on":true},"reported":{"color":"red","on":true}},
		  "metadata":{"desired":{"color":{"timestamp":1700000000},"on":{"timestamp":1700000000}},"reported":{"color":{"timestamp":1700000000},"on":{"timestamp":1700000000}}},
		  "version":2,"timestamp":1700000000,"clientToken":"dev-2"}`)
	select {
	case d := <-delta:
		t.Fatalf("a reported update that cleared the delta published one: %s", d)
	default:
	}

	mqttPublish(t, app, topic(OpUpdate, ""), `{"state":{"desired":{"color":"blue"}},"version":1,"clientToken":"stale"}`)
	jsonEqual(t, "stale version", testutil.Receive(t, rejected, "update/rejected"),
		`{"code":409,"message":"Version conflict","timestamp":1700000000,"clientToken":"stale"}`)
	mqttPublish(t, app, topic(OpUpdate, ""), `{"state":{"desired":`)
	jsonEqual(t, "malformed JSON", testutil.Receive(t, rejected, "update/rejected"),
		`{"code":400,"message":"Invalid JSON","timestamp":1700000000}`)
	mqttPublish(t, dev, topic(OpGet, ""), ``)
	if v := field[int](t, testutil.Receive(t, got, "get/accepted"), "version"); v != 2 {
		t.Fatalf("version %d after two rejected updates, want 2", v)
	}

	named := Topic("lamp-1", "firmware", OpUpdate, ResultAccepted)
	namedAcc := mqttSubscribe(t, dev, named)
	classicDelete := mqttSubscribe(t, dev, topic(OpDelete, ResultAccepted))
	mqttPublish(t, dev, Topic("lamp-1", "firmware", OpUpdate, ""), `{"state":{"reported":{"v":"1.2.0"}}}`)
	if v := field[int](t, testutil.Receive(t, namedAcc, named), "version"); v != 1 {
		t.Fatalf("named shadow version %d, want 1 (named shadows are versioned apart)", v)
	}
	mqttPublish(t, dev, topic(OpDelete, ""), ``)
	jsonEqual(t, "delete classic", testutil.Receive(t, classicDelete, "delete/accepted"), `{"version":2,"timestamp":1700000000}`)
}
