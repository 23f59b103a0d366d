// Command sensor-simulator is the com.sward.samples.SensorSimulator
// component: simulated vibration and temperature sensors publishing JSON
// readings over MQTT to <topicPrefix>/<sensorId>, with faults injected at a
// configurable rate so that an anomaly detector has something to find; with
// an AWS IoT Core link it also sends each reading to the cloud (cloud.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sward-iot/sward/recipes/internal/component"
)

func main() {
	env := component.FromEnv()
	log := env.Logger(os.Stdout)
	o := Options{Env: env, Signal: DefaultSignal}
	var sensors, signal string
	var intervalMs, qos int
	flag.StringVar(&sensors, "sensors", "pump-1", "sensor ids: a JSON array or a comma-separated list")
	flag.IntVar(&intervalMs, "interval-ms", 1000, "milliseconds between two readings of a sensor")
	flag.Float64Var(&o.FaultRate, "fault-rate", 0.01, "probability that a reading carries an injected fault")
	flag.IntVar(&qos, "qos", 1, "MQTT QoS of the readings")
	flag.StringVar(&o.TopicPrefix, "topic-prefix", "sward/telemetry", "readings go to <prefix>/<sensorId>")
	flag.StringVar(&signal, "signal", "", "JSON object: metric name -> {baseline, noise, driftAmplitude, driftPeriodSamples, spike} (default: vibration and temperature)")
	flag.Uint64Var(&o.Seed, "seed", 0, "random seed; 0 picks one")
	flag.IntVar(&o.Rounds, "rounds", 0, "stop after this many readings per sensor; 0 runs until stopped")
	flag.BoolVar(&o.CloudTelemetry, "cloud", true, "also send each reading to AWS IoT Core (PublishToIoTCore on sward/<thing>/telemetry/<sensorId>, a shared/telemetry batch); readings stay local when the nucleus has no link")
	check := flag.Bool("check", false, "validate the configuration and exit")
	flag.Parse()

	err := parseFlags(&o, sensors, signal, intervalMs, qos)
	if err == nil {
		_, err = o.NewGenerator()
	}
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(2)
	}
	if *check {
		log.Info("configuration is valid", "sensors", o.SensorIDs, "metrics", len(o.Signal))
		return
	}
	ctx, stop := component.SignalContext()
	defer stop()
	if err := Run(ctx, o, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}

// parseFlags converts the flag values that are not plain scalars; recipe
// interpolation hands lists and objects over as JSON.
func parseFlags(o *Options, sensors, signal string, intervalMs, qos int) error {
	ids, err := component.ParseList(sensors)
	if err != nil {
		return fmt.Errorf("sensorIds: %w", err)
	}
	o.SensorIDs = ids
	o.Interval = time.Duration(intervalMs) * time.Millisecond
	if qos < 0 || qos > 2 {
		return fmt.Errorf("qos: %d is not an MQTT QoS (0, 1 or 2)", qos)
	}
	o.QoS = byte(qos)
	if signal != "" {
		var s Signal
		if err := json.Unmarshal([]byte(signal), &s); err != nil {
			return fmt.Errorf("signal: not a JSON object of metrics: %w", err)
		}
		o.Signal = s
	}
	return nil
}
