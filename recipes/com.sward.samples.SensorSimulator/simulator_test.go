package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/recipes/internal/component"
	"github.com/sward-iot/sward/recipes/internal/testbroker"
)

func validOptions() Options {
	return Options{
		SensorIDs:   []string{"pump-1"},
		Interval:    time.Second,
		QoS:         1,
		TopicPrefix: "sward/telemetry",
		Signal:      DefaultSignal,
	}
}

func TestOptionsNewGenerator(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string // names the configuration key to fix
	}{
		{"defaults", func(*Options) {}, ""},
		{"no sensors", func(o *Options) { o.SensorIDs = nil }, "sensorIds: empty"},
		{"sensor id with a dot", func(o *Options) { o.SensorIDs = []string{"pump.1"} }, "sensorIds:"},
		{"duplicate sensor", func(o *Options) { o.SensorIDs = []string{"a", "a"} }, `"a" listed twice`},
		{"interval too short", func(o *Options) { o.Interval = time.Millisecond }, "intervalMs:"},
		{"qos 3", func(o *Options) { o.QoS = 3 }, "qos:"},
		{"wildcard topic prefix", func(o *Options) { o.TopicPrefix = "sward/#" }, "topicPrefix:"},
		{"trailing slash", func(o *Options) { o.TopicPrefix = "sward/" }, "topicPrefix:"},
		{"negative rounds", func(o *Options) { o.Rounds = -1 }, "rounds:"},
		{"fault rate above one", func(o *Options) { o.FaultRate = 2 }, "faultRate"},
		{"bad signal", func(o *Options) { o.Signal = Signal{} }, "signal:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.change(&o)
			_, err := o.NewGenerator()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("NewGenerator() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("NewGenerator() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseFlagsTakesRecipeInterpolatedJSON(t *testing.T) {
	var o Options
	err := parseFlags(&o, `["pump-1","fan-1"]`, `{"rpm":{"baseline":1500,"noise":5,"spike":900}}`, 250, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.SensorIDs) != 2 || o.SensorIDs[1] != "fan-1" {
		t.Errorf("SensorIDs = %v, want [pump-1 fan-1]", o.SensorIDs)
	}
	if o.Interval != 250*time.Millisecond || o.QoS != 0 {
		t.Errorf("Interval, QoS = %v, %d; want 250ms, 0", o.Interval, o.QoS)
	}
	if m := o.Signal["rpm"]; m.Baseline != 1500 || m.Noise != 5 || m.Spike != 900 {
		t.Errorf("Signal[rpm] = %+v, want baseline 1500, noise 5, spike 900", m)
	}
	for _, bad := range []struct{ sensors, signal string }{{`["a"`, ""}, {"a", `{"rpm":`}} {
		if err := parseFlags(&o, bad.sensors, bad.signal, 1000, 1); err == nil {
			t.Errorf("parseFlags(%q, %q) succeeded, want an error", bad.sensors, bad.signal)
		}
	}
}

// Readings published over MQTT reach a NATS subscriber on the subject that
// the broker maps the topic to: sward/telemetry/pump-1 is
// sward.telemetry.pump-1.
func TestSimulatorPublishesReadingsOverMQTTToNATSSubscribers(t *testing.T) {
	env := testbroker.Start(t)
	nc, err := nats.Connect(env.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe("sward.telemetry.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	o := validOptions()
	o.Env = env
	o.SensorIDs = []string{"pump-1", "fan-1"}
	o.Interval = 10 * time.Millisecond
	o.FaultRate = 0.5
	o.Rounds = 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Run(ctx, o, component.Env{}.Logger(io.Discard)); err != nil {
		t.Fatalf("Run: %v", err)
	}

	seqs := map[string][]uint64{}
	for received := 0; received < 6; received++ {
		select {
		case m := <-msgs:
			var r Reading
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatalf("payload on %s is not a reading: %v: %s", m.Subject, err, m.Data)
			}
			if want := "sward.telemetry." + r.SensorID; m.Subject != want {
				t.Errorf("reading of %s arrived on %s, want %s", r.SensorID, m.Subject, want)
			}
			if _, ok := r.Metrics["vibration"]; !ok {
				t.Errorf("reading %s has no vibration metric", m.Data)
			}
			seqs[r.SensorID] = append(seqs[r.SensorID], r.Seq)
		case <-ctx.Done():
			t.Fatalf("received %d readings before the deadline, want 6: %v", received, seqs)
		}
	}
	for _, id := range o.SensorIDs {
		if got := seqs[id]; len(got) != 3 || got[0] != 1 || got[2] != 3 {
			t.Errorf("sensor %s: seq %v, want [1 2 3] (QoS 1 on one connection keeps order)", id, got)
		}
	}
}

func TestMQTTClientIDHasNoCharactersTheBrokerRefuses(t *testing.T) {
	for _, e := range []component.Env{
		{Name: "com.sward.samples.SensorSimulator", ThingName: "line.1"},
		{},
	} {
		id := mqttClientID(e)
		if id == "" || strings.ContainsAny(id, ". *>") {
			t.Errorf("mqttClientID(%+v) = %q: nats-server refuses '.', ' ', '*' and '>' in MQTT client IDs", e, id)
		}
	}
}
