package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestRetainedMessagesStopAtTheirBoundAndOtherStreamsKeepTheirRoom(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "nucleus"
	o.MaxStore = 64 << 20
	o.MQTT = MQTTLimits{RetainedMaxBytes: 1 << 20, RetainedMaxMessageBytes: 300 << 10, MaxSessions: 10, PendingMaxBytes: 1 << 20}
	b := runBroker(t, o)
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The flood of the finding: an anonymous client retaining large
	// messages on new topics, far past the bound.
	cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "flood"})
	payload := strings.Repeat("x", 250<<10)
	for i := range 20 {
		wait(t, cl.Publish(fmt.Sprintf("flood/%d", i), 1, true, payload), "retained publish")
	}
	wait(t, cl.Publish("flood/oversize", 1, true, strings.Repeat("y", 400<<10)), "oversize retained publish")

	rm, err := js.Stream(ctx, "$MQTT_rmsgs")
	if err != nil {
		t.Fatal(err)
	}
	info, err := rm.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxBytes != 1<<20 || info.State.Bytes > 1<<20 || info.State.Msgs == 0 || info.State.Msgs >= 20 {
		t.Fatalf("$MQTT_rmsgs holds %d messages, %d bytes (MaxBytes %d): want some, within 1 MiB", info.State.Msgs, info.State.Bytes, info.Config.MaxBytes)
	}
	if _, err := rm.GetLastMsgForSubject(ctx, "$MQTT.rmsgs.flood.oversize"); err == nil {
		t.Fatal("a retained message over RetainedMaxMessageBytes was stored")
	}

	// The nucleus's own bounded state still has all its room.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "state", MaxBytes: 8 << 20})
	if err != nil {
		t.Fatalf("create a bounded bucket after the flood: %v", err)
	}
	for i := range 30 {
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), []byte(payload)); err != nil {
			t.Fatalf("put %d after the flood: %v", i, err)
		}
	}
}

func TestMQTTStreamsCreatedUnboundedAreBoundedAtTheNextStart(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "nucleus"
	b := runBroker(t, o)
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// As an earlier version left it: unbounded, and fuller than the bound.
	rm, err := js.Stream(ctx, "$MQTT_rmsgs")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rm.CachedInfo().Config
	cfg.MaxBytes, cfg.MaxMsgs, cfg.MaxMsgSize, cfg.Discard = -1, -1, -1, jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "old"})
	for i := range 8 {
		wait(t, cl.Publish(fmt.Sprintf("old/%d", i), 1, true, strings.Repeat("x", 200<<10)), "retained publish")
	}
	cl.Disconnect(0)
	b.Shutdown()
	b.WaitForShutdown()

	o.MQTT = MQTTLimits{RetainedMaxBytes: 1 << 20}
	b = runBroker(t, o)
	js, err = jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	rm, err = js.Stream(ctx, "$MQTT_rmsgs")
	if err != nil {
		t.Fatal(err)
	}
	info := rm.CachedInfo()
	if info.Config.MaxBytes != 1<<20 || info.Config.Discard != jetstream.DiscardNew || info.State.Bytes > 1<<20 {
		t.Fatalf("after restart $MQTT_rmsgs has MaxBytes %d, discard %v, %d bytes: want bounded to 1 MiB, DiscardNew", info.Config.MaxBytes, info.Config.Discard, info.State.Bytes)
	}
}

func TestEveryMQTTStreamIsBounded(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "nucleus"
	b := runBroker(t, o)
	mustMQTT(t, b.MQTTAddr(), mqttClient{id: "any", persistent: true})
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(context.Background())
	n := 0
	for name := range names.Name() {
		if !strings.HasPrefix(name, "$MQTT_") {
			continue
		}
		n++
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if s.CachedInfo().Config.MaxBytes <= 0 {
			t.Errorf("MQTT stream %s has no MaxBytes", name)
		}
	}
	if n != 5 {
		t.Fatalf("found %d MQTT streams, want the 5 nats-server uses", n)
	}
}

func TestMQTTLimitsThatDoNotFitAreRefused(t *testing.T) {
	tests := []struct {
		name    string
		limits  MQTTLimits
		wantMsg string
	}{
		{"negative", MQTTLimits{RetainedMaxBytes: -1}, "must not be negative"},
		{"message over total", MQTTLimits{RetainedMaxBytes: 1 << 20, RetainedMaxMessageBytes: 2 << 20}, "RetainedMaxMessageBytes"},
		{"over half the store", MQTTLimits{RetainedMaxBytes: 900 << 20}, "over half of MaxStore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.MQTT = tt.limits
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMQTTClientIDsAreReservedToTheirUser(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "sensor"
	o.Users = append(o.Users, User{Name: "component:a", Password: "a-secret", ClientIDs: []string{"a"}},
		User{Name: "component:a-b", Password: "ab-secret", ClientIDs: []string{"a-b"}})
	b := runBroker(t, o)

	owner := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "a", user: "component:a", pass: "a-secret"})
	mustMQTT(t, b.MQTTAddr(), mqttClient{id: "a-b-1", user: "component:a-b", pass: "ab-secret"})
	tests := []struct {
		name       string
		client     mqttClient
		wantRefuse bool
	}{
		{"anonymous with the exact id", mqttClient{id: "a"}, true},
		{"anonymous with a suffixed id", mqttClient{id: "a-2"}, true},
		{"another user", mqttClient{id: "a", user: "sensor", pass: sensorPass}, true},
		{"a shorter reservation does not cover a longer one's ids", mqttClient{id: "a-b-2", user: "component:a", pass: "a-secret"}, true},
		{"anonymous with an unreserved id", mqttClient{id: "ab"}, false},
		{"the owner with a suffixed id", mqttClient{id: "a-3", user: "component:a", pass: "a-secret"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dialMQTT(t, b.MQTTAddr(), tt.client)
			// nats-server closes a connection it does not authorize
			// without a CONNACK: the client sees the connection end.
			if tt.wantRefuse && err == nil {
				t.Fatalf("connect with client id %q as %q: accepted, want refused", tt.client.id, tt.client.user)
			}
			if !tt.wantRefuse && err != nil {
				t.Fatalf("connect with client id %q as %q: %v, want accepted", tt.client.id, tt.client.user, err)
			}
		})
	}
	if !owner.IsConnectionOpen() {
		t.Fatal("the owner of client id \"a\" was knocked off the broker")
	}
}

func TestMQTTSessionsStopAtMaxSessions(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "nucleus"
	o.MQTT = MQTTLimits{MaxSessions: 2}
	b := runBroker(t, o)
	for _, id := range []string{"s1", "s2"} {
		mustMQTT(t, b.MQTTAddr(), mqttClient{id: id, persistent: true})
	}
	if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "s3", persistent: true}); err == nil {
		t.Fatal("a third persistent session was accepted over MaxSessions 2")
	}
}

func TestABrokerWhoseStoreHasNoRoomForTheMQTTBoundsStillStarts(t *testing.T) {
	o := testOptions(t)
	o.MaxStore = 64 << 20
	o.MQTT = MQTTLimits{RetainedMaxBytes: 1 << 20, MaxSessions: 10, PendingMaxBytes: 1 << 20}
	b := runBroker(t, o)
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "big", Subjects: []string{"big"}, MaxBytes: 50 << 20}); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	b.WaitForShutdown()

	o.MQTT.RetainedMaxBytes = 16 << 20 // raised beyond what the store has left
	b = runBroker(t, o)
	js, err = jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := js.Stream(ctx, "$MQTT_rmsgs")
	if err != nil {
		t.Fatal(err)
	}
	if got := rm.CachedInfo().Config.MaxBytes; got != 1<<20 {
		t.Fatalf("$MQTT_rmsgs MaxBytes %d, want the previous bound %d kept", got, 1<<20)
	}
}
