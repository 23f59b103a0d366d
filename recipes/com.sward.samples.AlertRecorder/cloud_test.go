package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/recipes/internal/component"
	"github.com/sward-iot/sward/recipes/internal/testbroker"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/telemetry"
)

// fakeIoTCore answers SubscribeToIoTCore with err and keeps the handler so
// the test can deliver messages as the nucleus would.
type fakeIoTCore struct {
	err     error
	filters []string
	deliver func(wire.MQTTMessage)
}

func (f *fakeIoTCore) SubscribeToIoTCore(_ context.Context, filter, qos string, fn func(wire.MQTTMessage)) (*nats.Subscription, error) {
	f.filters = append(f.filters, filter+" qos "+qos)
	f.deliver = fn
	return nil, f.err
}

// The cloud's alerts for this thing are recorded beside the detector's;
// a payload that is not a shared/telemetry alert is refused.
func TestRecorderRecordsTheCloudsAlertsForItsThing(t *testing.T) {
	env := testbroker.Start(t)
	env.ThingName = "pi-1"
	ipc := &fakeIoTCore{}
	o := Options{Subject: "sward.alerts.>", File: filepath.Join(env.WorkPath, "alerts.jsonl"), MaxBytes: 1 << 20, Keep: 1, Env: env, CloudAlerts: true, IoTCore: ipc}
	svc, err := Start(o, component.Env{}.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if len(ipc.filters) != 1 || ipc.filters[0] != "sward/pi-1/alerts qos 1" {
		t.Fatalf("subscribed to %v, want sward/pi-1/alerts at QoS 1", ipc.filters)
	}
	limit := 3.5
	alert, err := (&telemetry.Alert{Thing: "pi-1", Stream: "pump-1", Metric: "vibration", Kind: telemetry.AboveMax, Value: 7.1, Timestamp: 1767225600000, Count: 1, Limit: &limit}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	ipc.deliver(wire.MQTTMessage{TopicName: "sward/pi-1/alerts", Payload: alert})
	ipc.deliver(wire.MQTTMessage{TopicName: "sward/pi-1/alerts", Payload: []byte(`{"sensorId":"x"}`)})
	svc.Shutdown()

	got := entries(t, o.File)
	if len(got) != 1 || got[0].Subject != "sward/pi-1/alerts" {
		t.Fatalf("journal = %+v, want the one valid cloud alert", got)
	}
	if a, err := telemetry.DecodeAlert(got[0].Alert); err != nil || a.Metric != "vibration" || a.Kind != telemetry.AboveMax {
		t.Errorf("recorded alert = %+v, %v", a, err)
	}
}

// Without a link the recorder starts anyway, records local alerts, and
// says why at INFO.
func TestRecorderWithoutACloudLinkRecordsLocalAlerts(t *testing.T) {
	env := testbroker.Start(t)
	env.ThingName = "pi-1"
	var logs bytes.Buffer
	ipc := &fakeIoTCore{err: wire.Errorf(wire.CodeService, "SubscribeToIoTCore: this nucleus has no AWS IoT Core link: start it with `sward run --config FILE`")}
	o := Options{Subject: "sward.alerts.>", File: filepath.Join(env.WorkPath, "alerts.jsonl"), MaxBytes: 1 << 20, Keep: 1, Env: env, CloudAlerts: true, IoTCore: ipc}
	svc, err := Start(o, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("Start without a link = %v, want it to record local alerts", err)
	}
	publishAlerts(t, env.NATSURL, "pump-1")
	svc.Shutdown()
	if got := entries(t, o.File); len(got) != 1 {
		t.Errorf("journal = %+v, want the local alert", got)
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"no AWS IoT Core link on this nucleus") {
		t.Errorf("log = %q, want one INFO line saying there is no link", logs.String())
	}
}
