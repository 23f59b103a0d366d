package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/telemetry"
	"github.com/sward-iot/sward/shared/topics"
)

// IoTCorePublisher is the part of the IPC client (shared/ipc/client) the
// cloud path uses.
type IoTCorePublisher interface {
	PublishToIoTCore(ctx context.Context, topic, qos string, payload []byte) error
}

// Cloud sends readings to AWS IoT Core through the nucleus's link
// (PublishToIoTCore): each reading becomes a shared/telemetry batch on
// sward/<thing>/telemetry/<sensorId>, the topic and schema the telemetry
// rule and Lambda accept. Without a link (the nucleus answers ServiceError
// "no AWS IoT Core link") it says so once and stops trying: the readings
// stay local, as they are on a device that runs without a cloud.
type Cloud struct {
	IPC   IoTCorePublisher
	Thing string
	QoS   string // wire.QoSAtMostOnce or wire.QoSAtLeastOnce
	Log   *slog.Logger

	off bool // no link: stop asking
}

// Send publishes r; it returns the error of a failed publish (not of a
// missing link) so the caller can count it.
func (c *Cloud) Send(ctx context.Context, r Reading) error {
	if c == nil || c.off {
		return nil
	}
	payload, err := telemetry.NewBatch(r.Time, r.Metrics).Encode()
	if err != nil {
		return fmt.Errorf("encode telemetry batch of %s: %w", r.SensorID, err)
	}
	topic := topics.Telemetry(c.Thing, r.SensorID)
	err = c.IPC.PublishToIoTCore(ctx, topic, c.QoS, payload)
	if noLink(err) {
		c.off = true
		c.Log.Info("no AWS IoT Core link on this nucleus: readings stay local", "reason", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("PublishToIoTCore %s: %w", topic, err)
	}
	return nil
}

// noLink reports the nucleus's answer when it runs without a cloud link.
func noLink(err error) bool {
	var e *wire.Error
	return errors.As(err, &e) && e.Code == wire.CodeService && strings.Contains(e.Message, "no AWS IoT Core link")
}

// validCloudStream reports whether sensor ids can be telemetry streams
// (they are the last topic level): component.ValidToken is stricter, so
// this only guards the length.
func validCloudStream(id string) error {
	if err := topics.ValidateStream(id); err != nil {
		return fmt.Errorf("sensorIds: %w", err)
	}
	return nil
}
