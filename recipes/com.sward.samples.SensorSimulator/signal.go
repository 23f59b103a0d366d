package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Metric describes one simulated measurement: a baseline, Gaussian noise, a
// slow sinusoidal drift (load and ambient temperature change over the day)
// and the offset added when a fault is injected.
type Metric struct {
	Baseline           float64 `json:"baseline"`
	Noise              float64 `json:"noise"`              // standard deviation of the noise
	DriftAmplitude     float64 `json:"driftAmplitude"`     // peak deviation of the drift from the baseline
	DriftPeriodSamples int     `json:"driftPeriodSamples"` // readings per drift cycle
	Spike              float64 `json:"spike"`              // added to the value on a faulty reading
}

// Signal maps a metric name to how it is simulated.
type Signal map[string]Metric

// DefaultSignal is a healthy medium-size pump: vibration in mm/s RMS at 2.0,
// inside ISO 10816 zone B for class II machines (acceptable for long-term
// operation), and bearing temperature in °C. A spike adds about 50σ of the
// noise (vibration 7 mm/s is zone C, "unsatisfactory") so the detector finds
// it at any sensible threshold; the drift is slow (15 and 60 minutes per
// cycle at 1 Hz) so a rolling window tracks it without alerting.
var DefaultSignal = Signal{
	"vibration":   {Baseline: 2.0, Noise: 0.1, DriftAmplitude: 0.2, DriftPeriodSamples: 900, Spike: 5.0},
	"temperature": {Baseline: 45.0, Noise: 0.2, DriftAmplitude: 2.0, DriftPeriodSamples: 3600, Spike: 12.0},
}

// Validate reports the first metric whose parameters cannot produce a signal.
func (s Signal) Validate() error {
	if len(s) == 0 {
		return errors.New("signal: no metrics: configure at least one under /signal")
	}
	for name, m := range s {
		switch {
		case name == "":
			return errors.New("signal: empty metric name")
		case m.Noise < 0 || math.IsNaN(m.Noise):
			return fmt.Errorf("signal: metric %q: noise %v must be >= 0", name, m.Noise)
		case m.DriftAmplitude != 0 && m.DriftPeriodSamples <= 0:
			return fmt.Errorf("signal: metric %q: driftPeriodSamples %d must be > 0 when driftAmplitude is set", name, m.DriftPeriodSamples)
		}
	}
	return nil
}

// Reading is the JSON payload published for one sensor at one instant.
type Reading struct {
	SensorID string             `json:"sensorId"`
	Seq      uint64             `json:"seq"` // per sensor, from 1; a gap means a lost message
	Time     time.Time          `json:"time"`
	Metrics  map[string]float64 `json:"metrics"`
	// Fault names the metric a fault was injected into, so a detector's
	// alerts can be scored against the truth. Empty on healthy readings.
	Fault string `json:"fault,omitempty"`
}

// Generator produces readings. It is deterministic for a given seed and not
// safe for concurrent use.
type Generator struct {
	signal    Signal
	metrics   []string // sorted, so a seed gives the same sequence every run
	faultRate float64
	rng       *rand.Rand
	seq       map[string]uint64
	phase     map[string]float64
}

// NewGenerator returns a generator that injects a fault into a reading with
// probability faultRate (0 never, 1 always).
func NewGenerator(signal Signal, faultRate float64, seed uint64) (*Generator, error) {
	if err := signal.Validate(); err != nil {
		return nil, err
	}
	if faultRate < 0 || faultRate > 1 || math.IsNaN(faultRate) {
		return nil, fmt.Errorf("faultRate %v must be between 0 and 1", faultRate)
	}
	metrics := make([]string, 0, len(signal))
	for name := range signal {
		metrics = append(metrics, name)
	}
	sort.Strings(metrics)
	return &Generator{
		signal:    signal,
		metrics:   metrics,
		faultRate: faultRate,
		rng:       rand.New(rand.NewPCG(seed, seed^0x5eed)),
		seq:       map[string]uint64{},
		phase:     map[string]float64{},
	}, nil
}

// Next returns the next reading of sensorID taken at now.
func (g *Generator) Next(sensorID string, now time.Time) Reading {
	g.seq[sensorID]++
	n := g.seq[sensorID]
	phase, ok := g.phase[sensorID]
	if !ok {
		// A random phase per sensor keeps sensors from drifting in lock-step.
		phase = g.rng.Float64() * 2 * math.Pi
		g.phase[sensorID] = phase
	}
	r := Reading{SensorID: sensorID, Seq: n, Time: now, Metrics: make(map[string]float64, len(g.metrics))}
	for _, name := range g.metrics {
		m := g.signal[name]
		v := m.Baseline + m.Noise*g.rng.NormFloat64()
		if m.DriftAmplitude != 0 {
			v += m.DriftAmplitude * math.Sin(phase+2*math.Pi*float64(n)/float64(m.DriftPeriodSamples))
		}
		r.Metrics[name] = v
	}
	if g.faultRate > 0 && g.rng.Float64() < g.faultRate {
		r.Fault = g.metrics[g.rng.IntN(len(g.metrics))]
		r.Metrics[r.Fault] += g.signal[r.Fault].Spike
	}
	for name, v := range r.Metrics {
		r.Metrics[name] = round3(v)
	}
	return r
}

// round3 keeps three decimals: more than any real vibration or temperature
// sensor resolves, and it keeps payloads and logs short.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
