// Command anomaly-detector is the com.sward.samples.AnomalyDetector
// component: it subscribes to sensor readings over NATS, keeps a rolling
// window per sensor and metric, and publishes an alert to
// <alertSubjectPrefix>.<sensorId> for every value whose z-score exceeds the
// threshold.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sward-iot/sward/recipes/internal/component"
)

// Defaults, used when the binary runs by hand; the recipe's
// DefaultConfiguration repeats them.
const (
	// defaultWindowSize is one minute at the simulator's 1 Hz: long enough
	// for a stable standard deviation, short enough to follow drift.
	defaultWindowSize = 60
	// defaultMinSamples: a sample standard deviation is uncertain by about
	// 1/√(2(n−1)), 16 % at 20 values; fewer would make every z-score
	// unreliable.
	defaultMinSamples = 20
	// defaultThreshold: with a 60-value window, |z| > 5 happens by chance
	// about once in 160 000 Gaussian values (the t distribution of a small
	// window, not the normal one, sets this), about three alerts a day for
	// six series at 1 Hz; the simulator's injected faults score near 50.
	defaultThreshold = 5.0
)

func main() {
	env := component.FromEnv()
	log := env.Logger(os.Stdout)
	o := Options{Env: env}
	var metrics string
	flag.StringVar(&o.TelemetrySubject, "telemetry-subject", "sward.telemetry.>", "NATS subject of the readings")
	flag.StringVar(&o.AlertPrefix, "alert-prefix", "sward.alerts", "alerts go to <prefix>.<sensorId>")
	flag.StringVar(&o.ReadingsStream, "readings-stream", "", "stream every reading is appended to (stream manager); empty keeps none")
	flag.StringVar(&metrics, "metrics", "", "metrics to score: a JSON array or comma-separated list; empty scores all")
	flag.IntVar(&o.Params.Size, "window-size", defaultWindowSize, "values per rolling window")
	flag.IntVar(&o.Params.MinSamples, "min-samples", defaultMinSamples, "values a window needs before it scores")
	flag.Float64Var(&o.Params.Threshold, "threshold", defaultThreshold, "|z| above which a value is anomalous")
	check := flag.Bool("check", false, "validate the configuration and exit")
	flag.Parse()

	err := parseMetrics(&o, metrics)
	if err == nil {
		_, err = NewDetector(o)
	}
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(2)
	}
	if *check {
		log.Info("configuration is valid")
		return
	}
	ctx, stop := component.SignalContext()
	defer stop()
	svc, err := Start(o, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	<-ctx.Done()
	svc.Shutdown()
}

func parseMetrics(o *Options, s string) error {
	m, err := component.ParseList(s)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	o.Metrics = m
	return nil
}
