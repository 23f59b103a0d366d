package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSignalValidate(t *testing.T) {
	tests := []struct {
		name    string
		signal  Signal
		wantErr string
	}{
		{"default signal", DefaultSignal, ""},
		{"no metrics", Signal{}, "no metrics"},
		{"empty metric name", Signal{"": {Baseline: 1}}, "empty metric name"},
		{"negative noise", Signal{"v": {Noise: -1}}, `metric "v": noise`},
		{"drift without a period", Signal{"v": {DriftAmplitude: 1}}, `metric "v": driftPeriodSamples`},
		{"constant signal", Signal{"v": {Baseline: 3}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.signal.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewGeneratorRejectsAFaultRateOutsideZeroToOne(t *testing.T) {
	for _, rate := range []float64{-0.1, 1.1, math.NaN()} {
		if _, err := NewGenerator(DefaultSignal, rate, 1); err == nil {
			t.Errorf("NewGenerator(faultRate %v) succeeded, want an error", rate)
		}
	}
}

// stats returns mean and population standard deviation.
func stats(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)))
}

func TestGeneratorSignal(t *testing.T) {
	const n = 5000
	tests := []struct {
		name      string
		metric    Metric
		faultRate float64
		wantMean  float64
		wantSD    float64
		wantFault float64 // expected share of readings with a fault
	}{
		{"baseline plus noise", Metric{Baseline: 45, Noise: 0.5}, 0, 45, 0.5, 0},
		// A sine of amplitude A has standard deviation A/√2.
		{"drift without noise", Metric{Baseline: 2, DriftAmplitude: 1, DriftPeriodSamples: 100}, 0, 2, 1 / math.Sqrt2, 0},
		{"every reading faulty adds the spike", Metric{Baseline: 2, Noise: 0.1, Spike: 5}, 1, 7, 0.1, 1},
		{"faults at the configured rate", Metric{Baseline: 0, Spike: 1}, 0.1, 0.1, 0.3, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGenerator(Signal{"m": tt.metric}, tt.faultRate, 42)
			if err != nil {
				t.Fatal(err)
			}
			values := make([]float64, n)
			faults := 0
			for i := range values {
				r := g.Next("s", t0)
				values[i] = r.Metrics["m"]
				if r.Fault != "" {
					faults++
					if r.Fault != "m" {
						t.Fatalf("reading %d: fault names %q, want the only metric m", i, r.Fault)
					}
				}
			}
			mean, sd := stats(values)
			// 5000 samples put the estimates within a few percent; the
			// seed is fixed, so this cannot flake.
			if math.Abs(mean-tt.wantMean) > 0.05*math.Max(1, tt.wantSD)+0.02 {
				t.Errorf("mean = %.3f, want %.3f", mean, tt.wantMean)
			}
			if math.Abs(sd-tt.wantSD) > 0.05*tt.wantSD+0.005 {
				t.Errorf("stddev = %.3f, want %.3f", sd, tt.wantSD)
			}
			if share := float64(faults) / n; math.Abs(share-tt.wantFault) > 0.02 {
				t.Errorf("fault share = %.3f, want %.3f", share, tt.wantFault)
			}
		})
	}
}

func TestGeneratorNumbersReadingsPerSensor(t *testing.T) {
	g, err := NewGenerator(DefaultSignal, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, id := range []string{"a", "b", "a", "a", "b"} {
		r := g.Next(id, t0)
		if r.SensorID != id || !r.Time.Equal(t0) {
			t.Fatalf("reading = %+v, want sensor %q at %v", r, id, t0)
		}
		got = append(got, r.Seq)
	}
	if want := []uint64{1, 1, 2, 3, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("seq = %v, want %v", got, want)
	}
}

func TestGeneratorIsReproducibleForASeed(t *testing.T) {
	run := func(seed uint64) []Reading {
		g, err := NewGenerator(DefaultSignal, 0.2, seed)
		if err != nil {
			t.Fatal(err)
		}
		var rs []Reading
		for range 50 {
			rs = append(rs, g.Next("pump-1", t0), g.Next("fan-1", t0))
		}
		return rs
	}
	if a, b := run(7), run(7); !reflect.DeepEqual(a, b) {
		t.Fatal("two generators with seed 7 produced different readings")
	}
	if a, b := run(7), run(8); reflect.DeepEqual(a, b) {
		t.Fatal("seeds 7 and 8 produced the same readings")
	}
}

func TestGeneratorRoundsToThreeDecimals(t *testing.T) {
	g, err := NewGenerator(DefaultSignal, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		for name, v := range g.Next("s", t0).Metrics {
			if math.Abs(v*1000-math.Round(v*1000)) > 1e-6 {
				t.Fatalf("%s = %v has more than three decimals", name, v)
			}
		}
	}
}
