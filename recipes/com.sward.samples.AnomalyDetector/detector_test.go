package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/recipes/internal/component"
	"github.com/sward-iot/sward/recipes/internal/testbroker"
)

var testParams = Params{Size: 20, MinSamples: 10, Threshold: 4}

func testOptions(env component.Env) Options {
	return Options{TelemetrySubject: "sward.telemetry.>", AlertPrefix: "sward.alerts", Params: testParams, Env: env}
}

// reading returns a telemetry payload shaped like the simulator's.
func reading(sensor string, seq int, metrics map[string]float64) []byte {
	b, _ := json.Marshal(map[string]any{
		"sensorId": sensor, "seq": seq, "metrics": metrics,
		"time": time.Date(2025, 1, 1, 0, 0, seq, 0, time.UTC),
	})
	return b
}

// healthy is vibration 2.0 ± 0.1 and temperature 45 ± 0.2.
func healthy(i int) map[string]float64 {
	sign := float64(1 - 2*(i%2))
	return map[string]float64{"vibration": 2 + 0.1*sign, "temperature": 45 + 0.2*sign}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no telemetry subject", func(o *Options) { o.TelemetrySubject = "" }, "telemetrySubject"},
		{"wildcard alert prefix", func(o *Options) { o.AlertPrefix = "sward.*" }, "alertSubjectPrefix"},
		{"trailing dot", func(o *Options) { o.AlertPrefix = "sward.alerts." }, "alertSubjectPrefix"},
		{"bad window", func(o *Options) { o.Params.Size = 0 }, "window.size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(component.Env{})
			tt.change(&o)
			_, err := NewDetector(o)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("NewDetector() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("NewDetector() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDetectorHandle(t *testing.T) {
	spike := map[string]float64{"vibration": 9, "temperature": 45}
	tests := []struct {
		name       string
		metrics    []string // Options.Metrics
		subject    string
		last       []byte // sent after 20 healthy readings of pump-1
		wantAlerts []string
		wantErr    string
	}{
		{"healthy reading", nil, "sward.telemetry.pump-1", reading("pump-1", 21, healthy(21)), nil, ""},
		{"vibration spike", nil, "sward.telemetry.pump-1", reading("pump-1", 21, spike), []string{"pump-1/vibration"}, ""},
		{"spike on two metrics, alerts in metric order", nil, "sward.telemetry.pump-1",
			reading("pump-1", 21, map[string]float64{"vibration": 9, "temperature": 80}),
			[]string{"pump-1/temperature", "pump-1/vibration"}, ""},
		{"metric not configured is ignored", []string{"temperature"}, "sward.telemetry.pump-1", reading("pump-1", 21, spike), nil, ""},
		{"sensor id defaults to the subject's last token", nil, "sward.telemetry.pump-1", []byte(`{"metrics":{"vibration":9}}`),
			[]string{"pump-1/vibration"}, ""},
		{"another sensor has its own window", nil, "sward.telemetry.fan-1", reading("fan-1", 1, spike), nil, ""},
		{"not JSON", nil, "sward.telemetry.pump-1", []byte("vibration=9"), nil, "not JSON"},
		{"no metrics object", nil, "sward.telemetry.pump-1", []byte(`{"sensorId":"pump-1"}`), nil, `no "metrics"`},
		{"sensor id that cannot be a subject token", nil, "sward.telemetry.x", reading("pump.1", 1, spike), nil, "sensorId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(component.Env{})
			o.Metrics = tt.metrics
			d, err := NewDetector(o)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				if alerts, err := d.Handle("sward.telemetry.pump-1", reading("pump-1", i, healthy(i))); err != nil || len(alerts) != 0 {
					t.Fatalf("healthy reading %d: alerts %v, err %v", i, alerts, err)
				}
			}
			alerts, err := d.Handle(tt.subject, tt.last)
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Handle() error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			var got []string
			for _, a := range alerts {
				got = append(got, a.SensorID+"/"+a.Metric)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantAlerts) {
				t.Fatalf("alerts = %v, want %v", got, tt.wantAlerts)
			}
		})
	}
}

// A detector fed a healthy baseline and then a spike over the broker
// publishes exactly one alert, for the spike, on sward.alerts.<sensorId>.
func TestDetectorPublishesAnAlertForASpikeOverNATS(t *testing.T) {
	env := testbroker.Start(t)
	svc, err := Start(testOptions(env), component.Env{}.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown()

	nc, err := nats.Connect(env.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe("sward.alerts.>", alerts); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		if err := nc.Publish("sward.telemetry.pump-1", reading("pump-1", i, healthy(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("sward.telemetry.pump-1", reading("pump-1", 31, map[string]float64{"vibration": 9, "temperature": 45})); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	select {
	case m := <-alerts:
		if m.Subject != "sward.alerts.pump-1" {
			t.Errorf("alert subject = %s, want sward.alerts.pump-1", m.Subject)
		}
		var a Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("alert is not JSON: %v: %s", err, m.Data)
		}
		// Readings are scored in order, so an alert for a healthy reading
		// would have arrived first.
		if a.SensorID != "pump-1" || a.Metric != "vibration" || a.Value != 9 || a.Threshold != 4 ||
			a.Z < 4 || a.Window != 20 || a.StdDev <= 0 || a.Time.Second() != 31 || a.Subject != "sward.telemetry.pump-1" {
			t.Errorf("alert = %s, want the vibration spike of reading 31 scored against a 20-value window", m.Data)
		}
		for _, field := range []string{`"sensorId"`, `"metric"`, `"value"`, `"mean"`, `"stddev"`, `"z"`, `"threshold"`, `"time"`} {
			if !strings.Contains(string(m.Data), field) {
				t.Errorf("alert %s lacks %s", m.Data, field)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert within 10s of the spike")
	}
	// The spike is the last reading; a second alert would be spurious.
	// Shutdown drains the detector (its alerts reach the broker) and a
	// round trip on the test connection delivers whatever was routed to it.
	svc.Shutdown()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-alerts:
		t.Errorf("unexpected second alert: %s", m.Data)
	default:
	}
}
