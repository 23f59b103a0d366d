package main

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go"

	wire "github.com/sward-iot/sward/shared/ipc"
	ipcclient "github.com/sward-iot/sward/shared/ipc/client"
	"github.com/sward-iot/sward/shared/telemetry"
	"github.com/sward-iot/sward/shared/topics"
)

// IoTCoreSubscriber is the part of the IPC client (shared/ipc/client) the
// cloud alerts use.
type IoTCoreSubscriber interface {
	SubscribeToIoTCore(ctx context.Context, filter, qos string, fn func(wire.MQTTMessage)) (*nats.Subscription, error)
}

// subscribeCloud subscribes to the alerts the cloud's telemetry Lambda
// publishes for this device on sward/<thing>/alerts (SubscribeToIoTCore)
// and records them beside the detector's. Without a thing name, an IPC
// environment or a link it logs why at INFO and records local alerts only:
// a device without a cloud is a normal device.
func (s *Service) subscribeCloud(ctx context.Context, o Options) {
	thing := o.Env.ThingName
	if thing == "" {
		s.log.Info("no thing name (AWS_IOT_THING_NAME): recording local alerts only")
		return
	}
	sub := o.IoTCore
	if sub == nil {
		env := ipcclient.FromEnv()
		if env.IPCPrefix == "" {
			s.log.Info("not running under the nucleus (no IPC environment): recording local alerts only")
			return
		}
		sub = ipcclient.New(s.nc, env)
	}
	topic := topics.Alerts(thing)
	_, err := sub.SubscribeToIoTCore(ctx, topic, wire.QoSAtLeastOnce, s.recordCloud)
	var e *wire.Error
	switch {
	case errors.As(err, &e) && e.Code == wire.CodeService && strings.Contains(e.Message, "no AWS IoT Core link"):
		s.log.Info("no AWS IoT Core link on this nucleus: recording local alerts only", "reason", err.Error())
	case err != nil:
		s.log.Warn("cannot subscribe to the cloud's alerts; recording local alerts only", "topic", topic, "err", err)
	default:
		s.log.Info("recording cloud alerts", "topic", topic)
	}
}

// recordCloud records one alert from the cloud after checking it is one
// (shared/telemetry's Alert, strictly decoded).
func (s *Service) recordCloud(m wire.MQTTMessage) {
	a, err := telemetry.DecodeAlert(m.Payload)
	if err != nil {
		s.log.Warn("cloud alert refused, not recorded", "topic", m.TopicName, "bytes", len(m.Payload), "reason", err.Error())
		return
	}
	s.log.Warn("cloud alert", "topic", m.TopicName, "stream", a.Stream, "metric", a.Metric, "kind", a.Kind, "value", a.Value, "count", a.Count, "alertId", a.AlertID)
	s.append(m.TopicName, m.Payload)
}
