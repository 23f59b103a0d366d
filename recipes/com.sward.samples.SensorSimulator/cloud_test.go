package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/telemetry"
)

type published struct {
	topic, qos string
	payload    []byte
}

// fakeIoTCore answers PublishToIoTCore with err and records what it got.
type fakeIoTCore struct {
	err  error
	sent []published
}

func (f *fakeIoTCore) PublishToIoTCore(_ context.Context, topic, qos string, payload []byte) error {
	f.sent = append(f.sent, published{topic, qos, payload})
	return f.err
}

// The reading reaches IoT Core on the thing's telemetry topic, with the
// sensor as the stream, in the batch schema the telemetry Lambda decodes.
func TestCloudSendsAReadingAsATelemetryBatchOnTheThingsTopic(t *testing.T) {
	ipc := &fakeIoTCore{}
	c := &Cloud{IPC: ipc, Thing: "pi-1", QoS: wire.QoSAtLeastOnce, Log: slog.New(slog.DiscardHandler)}
	at := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	r := Reading{SensorID: "pump-1", Seq: 7, Time: at, Metrics: map[string]float64{"vibration": 7.1, "temperature": 45}, Fault: "vibration"}
	if err := c.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(ipc.sent) != 1 || ipc.sent[0].topic != "sward/pi-1/telemetry/pump-1" || ipc.sent[0].qos != "1" {
		t.Fatalf("sent %+v, want one QoS 1 publish on sward/pi-1/telemetry/pump-1", ipc.sent)
	}
	b, err := telemetry.DecodeBatch(ipc.sent[0].payload)
	if err != nil || len(b.Rejected) != 0 || len(b.Records) != 2 {
		t.Fatalf("DecodeBatch(%s) = %+v, %v; want two good records", ipc.sent[0].payload, b, err)
	}
	for _, rec := range b.Records {
		if rec.Timestamp != at.UnixMilli() || rec.Value != r.Metrics[rec.Metric] {
			t.Errorf("record %+v does not carry the reading's %s at %d", rec, rec.Metric, at.UnixMilli())
		}
	}
}

// A nucleus without a link answers ServiceError: the simulator says so once,
// at INFO, and stops asking; any other failure is returned to be counted.
func TestCloudWithoutALinkGoesQuietlyLocal(t *testing.T) {
	var logs bytes.Buffer
	noLinkErr := wire.Errorf(wire.CodeService, "PublishToIoTCore: this nucleus has no AWS IoT Core link: start it with `sward run --config FILE`")
	ipc := &fakeIoTCore{err: noLinkErr}
	c := &Cloud{IPC: ipc, Thing: "pi-1", QoS: "1", Log: slog.New(slog.NewTextHandler(&logs, nil))}
	r := Reading{SensorID: "pump-1", Time: time.Now(), Metrics: map[string]float64{"v": 1}}
	for range 3 {
		if err := c.Send(context.Background(), r); err != nil {
			t.Fatalf("Send without a link = %v, want nil", err)
		}
	}
	if len(ipc.sent) != 1 {
		t.Errorf("asked the nucleus %d times, want once", len(ipc.sent))
	}
	if n := strings.Count(logs.String(), "readings stay local"); n != 1 || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log = %q, want one INFO line", logs.String())
	}

	other := &fakeIoTCore{err: errors.New("ipc client: PublishToIoTCore: timeout")}
	c = &Cloud{IPC: other, Thing: "pi-1", QoS: "1", Log: slog.New(slog.DiscardHandler)}
	if err := c.Send(context.Background(), r); err == nil || !strings.Contains(err.Error(), "sward/pi-1/telemetry/pump-1") {
		t.Errorf("Send = %v, want the error naming the topic", err)
	}
	if err := c.Send(context.Background(), r); err == nil {
		t.Error("a transient failure turned the cloud path off")
	}
}
