package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sward-iot/sward/recipes/internal/component"
	wire "github.com/sward-iot/sward/shared/ipc"
	ipcclient "github.com/sward-iot/sward/shared/ipc/client"
	"github.com/sward-iot/sward/shared/topics"
)

// Options configure a Simulator; main fills them from flags, which the
// recipe fills from the component configuration.
type Options struct {
	SensorIDs   []string
	Interval    time.Duration // between two readings of the same sensor
	FaultRate   float64       // probability that a reading carries an injected fault
	QoS         byte
	TopicPrefix string // readings go to <TopicPrefix>/<sensorId>
	Signal      Signal
	Seed        uint64 // 0 picks a random seed
	Rounds      int    // stop after this many readings per sensor; 0 runs until cancelled
	Env         component.Env
	// CloudTelemetry also sends each reading to AWS IoT Core (see Cloud).
	CloudTelemetry bool
	// IoTCore is the IPC client the cloud path uses; nil connects one from
	// the nucleus's environment when CloudTelemetry is set.
	IoTCore IoTCorePublisher
}

// minInterval bounds the publish rate: below 10 ms per sensor the simulator
// is a load generator, not a sensor, and would flood the device's disk with
// telemetry spooled for the cloud.
const minInterval = 10 * time.Millisecond

// Validate reports the first option that cannot work, naming the
// configuration key to change.
func (o *Options) Validate() error {
	if len(o.SensorIDs) == 0 {
		return errors.New("sensorIds: empty: configure at least one sensor id")
	}
	seen := map[string]bool{}
	for _, id := range o.SensorIDs {
		if err := component.ValidToken(id); err != nil {
			return fmt.Errorf("sensorIds: %w", err)
		}
		if err := validCloudStream(id); err != nil {
			return err
		}
		if seen[id] {
			return fmt.Errorf("sensorIds: %q listed twice", id)
		}
		seen[id] = true
	}
	if o.Interval < minInterval {
		return fmt.Errorf("intervalMs: %v is below the minimum %v", o.Interval, minInterval)
	}
	if o.QoS > 2 {
		return fmt.Errorf("qos: %d is not an MQTT QoS (0, 1 or 2)", o.QoS)
	}
	if o.TopicPrefix == "" || strings.ContainsAny(o.TopicPrefix, "+#") || strings.HasSuffix(o.TopicPrefix, "/") {
		return fmt.Errorf("topicPrefix: %q must be a non-empty topic without wildcards or a trailing '/'", o.TopicPrefix)
	}
	if o.Rounds < 0 {
		return fmt.Errorf("rounds: %d must be >= 0", o.Rounds)
	}
	return nil
}

// NewGenerator validates o and returns the generator it describes; the
// generator checks the signal and the fault rate.
func (o *Options) NewGenerator() (*Generator, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return NewGenerator(o.Signal, o.FaultRate, seed)
}

// Topic is where readings of sensorID are published.
func (o *Options) Topic(sensorID string) string { return o.TopicPrefix + "/" + sensorID }

// Tuning of the MQTT session. The broker is on loopback, so anything slower
// than these means it is down or overloaded, not far away.
const (
	connectRetryInterval = time.Second
	publishTimeout       = 5 * time.Second
	disconnectQuiesce    = 250 // ms to let in-flight QoS 1/2 publishes finish on stop
)

// Run connects to the MQTT listener and publishes one reading per sensor
// every Interval until ctx is cancelled or Rounds are done. It returns nil on
// a clean stop; connection problems are retried, not returned, because the
// nucleus may restart its broker under a running component.
func Run(ctx context.Context, o Options, log *slog.Logger) error {
	gen, err := o.NewGenerator()
	if err != nil {
		return err
	}
	opts := clientOptions(o.Env, log)
	tlsConfig, err := o.Env.TLSConfig()
	if err != nil {
		return err
	}
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	client := mqtt.NewClient(opts)
	if err := connect(ctx, client); err != nil {
		return err
	}
	defer client.Disconnect(disconnectQuiesce)
	cloud, closeCloud := o.cloud(log)
	defer closeCloud()
	log.Info("publishing", "broker", o.Env.MQTTURL, "sensors", o.SensorIDs, "topic", o.Topic("<sensorId>"),
		"interval", o.Interval.String(), "qos", o.QoS, "faultRate", o.FaultRate)

	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	for round := 1; o.Rounds == 0 || round <= o.Rounds; round++ {
		publishRound(ctx, client, cloud, gen, o, time.Now().UTC(), log)
		if o.Rounds != 0 && round == o.Rounds {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return nil
}

// mqttClientID is "<thing>-<component>" with dots replaced: the embedded
// broker (nats-server) refuses MQTT client IDs holding '.', ' ', '*' or '>'
// because it uses them in subject names, and component names hold dots.
func mqttClientID(e component.Env) string {
	name := e.Name
	if name == "" {
		name = "sensor-simulator"
	}
	if e.ThingName != "" {
		name = e.ThingName + "-" + name
	}
	return strings.NewReplacer(".", "-", " ", "-", "*", "-", ">", "-").Replace(name)
}

func clientOptions(e component.Env, log *slog.Logger) *mqtt.ClientOptions {
	id := mqttClientID(e)
	return mqtt.NewClientOptions().
		AddBroker(e.MQTTURL).
		SetClientID(id).
		SetUsername(e.NATSUser).
		SetPassword(e.NATSPassword).
		// A simulator has no subscriptions to resume, so a clean session
		// costs the broker no JetStream state.
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(connectRetryInterval).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { log.Warn("mqtt connection lost", "err", err) }).
		SetOnConnectHandler(func(mqtt.Client) { log.Info("mqtt connected", "broker", e.MQTTURL) })
}

// connect waits until the client is connected (it retries on its own) or ctx
// is cancelled.
func connect(ctx context.Context, client mqtt.Client) error {
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt connect: %w", err)
		}
		return nil
	case <-ctx.Done():
		client.Disconnect(0)
		return fmt.Errorf("mqtt connect: %w", ctx.Err())
	}
}

// publishRound publishes one reading per sensor, then waits for the
// acknowledgements (QoS > 0) so a slow broker slows the simulator down
// instead of piling up unacknowledged messages.
func publishRound(ctx context.Context, client mqtt.Client, cloud *Cloud, gen *Generator, o Options, now time.Time, log *slog.Logger) {
	tokens := make([]mqtt.Token, 0, len(o.SensorIDs))
	readings := make([]Reading, 0, len(o.SensorIDs))
	for _, id := range o.SensorIDs {
		r := gen.Next(id, now)
		payload, err := json.Marshal(r)
		if err != nil { // only a NaN or Inf could do this, and Validate rules them out
			log.Error("encode reading", "sensor", id, "err", err)
			continue
		}
		if r.Fault != "" {
			log.Info("injected fault", "sensor", id, "seq", r.Seq, "metric", r.Fault, "value", r.Metrics[r.Fault])
		}
		tokens = append(tokens, client.Publish(o.Topic(id), o.QoS, false, payload))
		readings = append(readings, r)
	}
	failed := 0
	var firstErr error
	for _, tok := range tokens {
		if !tok.WaitTimeout(publishTimeout) {
			failed++
			firstErr = firstOf(firstErr, fmt.Errorf("no acknowledgement within %v", publishTimeout))
		} else if err := tok.Error(); err != nil {
			failed++
			firstErr = firstOf(firstErr, err)
		}
	}
	if failed > 0 { // one line per round, not per message, so an outage does not flood the log
		log.Warn("publish failed", "failed", failed, "of", len(tokens), "err", firstErr)
	}
	failed, firstErr = 0, nil
	for _, r := range readings {
		if err := cloud.Send(ctx, r); err != nil {
			failed++
			firstErr = firstOf(firstErr, err)
		}
	}
	if failed > 0 {
		log.Warn("cloud publish failed", "failed", failed, "of", len(readings), "err", firstErr)
	}
}

// cloud returns the cloud path Run uses, nil when CloudTelemetry is off or
// the simulator runs outside the nucleus, and what closes it.
func (o *Options) cloud(log *slog.Logger) (*Cloud, func()) {
	if !o.CloudTelemetry {
		return nil, func() {}
	}
	thing := o.Env.ThingName
	if thing == "" {
		log.Info("no thing name (AWS_IOT_THING_NAME): readings stay local")
		return nil, func() {}
	}
	qos := wire.QoSAtLeastOnce
	if o.QoS == 0 {
		qos = wire.QoSAtMostOnce
	}
	c := &Cloud{IPC: o.IoTCore, Thing: thing, QoS: qos, Log: log}
	if c.IPC != nil {
		return c, func() {}
	}
	ipc, err := ipcclient.Connect()
	if err != nil {
		log.Info("no IPC connection to the nucleus: readings stay local", "reason", err.Error())
		return nil, func() {}
	}
	c.IPC = ipc
	log.Info("sending readings to AWS IoT Core", "topic", topics.Telemetry(thing, "<sensorId>"), "qos", qos)
	return c, ipc.Close
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
