package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestWindowStats(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		push       []float64
		wantLen    int
		wantMean   float64
		wantStdDev float64
	}{
		{"empty", 4, nil, 0, 0, 0},
		{"one value has no spread", 4, []float64{3}, 1, 3, 0},
		{"sample standard deviation uses n-1", 8, []float64{2, 4, 4, 4, 5, 5, 7, 9}, 8, 5, math.Sqrt(32.0 / 7)},
		{"full window keeps the newest values", 3, []float64{100, -100, 3, 4, 5}, 3, 4, 1},
		{"constant", 5, []float64{7, 7, 7, 7, 7, 7}, 5, 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.size)
			for _, x := range tt.push {
				w.Push(x)
			}
			mean, sd := w.Stats()
			if w.Len() != tt.wantLen || !near(mean, tt.wantMean) || !near(sd, tt.wantStdDev) {
				t.Fatalf("Len, Stats = %d, %v, %v; want %d, %v, %v", w.Len(), mean, sd, tt.wantLen, tt.wantMean, tt.wantStdDev)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		wantErr string
	}{
		{"defaults", Params{Size: 60, MinSamples: 20, Threshold: 5}, ""},
		{"window of one", Params{Size: 1, MinSamples: 1, Threshold: 5}, "window.size"},
		{"window too large", Params{Size: maxWindowSize + 1, MinSamples: 20, Threshold: 5}, "window.size"},
		{"min samples above size", Params{Size: 10, MinSamples: 11, Threshold: 5}, "window.minSamples"},
		{"min samples of one", Params{Size: 10, MinSamples: 1, Threshold: 5}, "window.minSamples"},
		{"zero threshold", Params{Size: 10, MinSamples: 5, Threshold: 0}, "threshold"},
		{"NaN threshold", Params{Size: 10, MinSamples: 5, Threshold: math.NaN()}, "threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// alternating is 10 ± 1: mean 10 and, for an even count, sample standard
// deviation sqrt(n/(n-1)).
func alternating(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = 10 + float64(1-2*(i%2))
	}
	return xs
}

func TestWindowObserve(t *testing.T) {
	p := Params{Size: 10, MinSamples: 4, Threshold: 3}
	sd10 := math.Sqrt(10.0 / 9) // of alternating(10)
	tests := []struct {
		name          string
		history       []float64
		x             float64
		wantScored    bool
		wantAnomalous bool
		wantZ         float64
	}{
		{"warming up does not score", alternating(3), 100, false, false, 0},
		{"a constant window has no z-score", []float64{5, 5, 5, 5, 5}, 6, false, false, 0},
		{"a normal value is scored but not anomalous", alternating(10), 11, true, false, 1 / sd10},
		{"a spike above the threshold is anomalous", alternating(10), 20, true, true, 10 / sd10},
		{"a dip is anomalous too", alternating(10), 0, true, true, -10 / sd10},
		{"just below the threshold is not anomalous", alternating(10), 10 + 2.99*sd10, true, false, 2.99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(p.Size)
			for _, x := range tt.history {
				w.Push(x)
			}
			s := w.Observe(tt.x, p)
			if s.Scored != tt.wantScored || s.Anomalous != tt.wantAnomalous || !near(s.Z, tt.wantZ) {
				t.Fatalf("Observe(%v) = %+v; want scored %v, anomalous %v, z %v", tt.x, s, tt.wantScored, tt.wantAnomalous, tt.wantZ)
			}
			if s.N != min(len(tt.history), p.Size) {
				t.Fatalf("N = %d, want the values before x", s.N)
			}
			if w.Len() != min(len(tt.history)+1, p.Size) {
				t.Fatalf("window holds %d values after Observe, want x added", w.Len())
			}
		})
	}
}

func TestObserveKeepsASpikeFromHidingTheNextOne(t *testing.T) {
	p := Params{Size: 20, MinSamples: 10, Threshold: 4}
	w := NewWindow(p.Size)
	for _, x := range alternating(20) {
		w.Push(x)
	}
	if s := w.Observe(60, p); !s.Anomalous {
		t.Fatalf("first spike: %+v, want anomalous", s)
	}
	// Without clamping, 60 in the window would raise the stddev to about
	// 11 and a second spike to 30 would score below 2.
	if s := w.Observe(30, p); !s.Anomalous || s.StdDev > 2 {
		t.Fatalf("second spike: %+v, want anomalous against a baseline the first spike did not inflate", s)
	}
}

func TestObserveAcceptsALastingLevelShiftAsTheNewNormal(t *testing.T) {
	p := Params{Size: 20, MinSamples: 10, Threshold: 4}
	w := NewWindow(p.Size)
	for _, x := range alternating(20) {
		w.Push(x)
	}
	var alerts int
	for i, x := range alternating(200) {
		if w.Observe(x+20, p).Anomalous {
			alerts++
			if i > 3*p.Size {
				t.Fatalf("value %d of the shifted level still alerts: %d alerts so far", i, alerts)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("a step of 20σ raised no alert")
	}
}

func TestScorerKeepsOneWindowPerSensorAndMetric(t *testing.T) {
	s, err := NewScorer(Params{Size: 10, MinSamples: 4, Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range alternating(10) {
		for _, key := range [][2]string{{"a", "vibration"}, {"b", "vibration"}} {
			if _, err := s.Observe(key[0], key[1], x); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := s.Observe("a", "vibration", 50); !got.Anomalous {
		t.Errorf("a/vibration after warm-up: %+v, want anomalous", got)
	}
	if got, _ := s.Observe("a", "temperature", 50); got.Scored {
		t.Errorf("a/temperature has its own, empty window: %+v, want not scored", got)
	}
	if got, _ := s.Observe("b", "vibration", 10); got.Anomalous || !got.Scored {
		t.Errorf("b/vibration is not disturbed by a's spike: %+v", got)
	}
}

func TestScorerRejectsNonFiniteValuesAndTooManySeries(t *testing.T) {
	s, err := NewScorer(Params{Size: 2, MinSamples: 2, Threshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := s.Observe("a", "m", x); err == nil {
			t.Errorf("Observe(%v) succeeded, want an error", x)
		}
	}
	for i := range maxSeries {
		if _, err := s.Observe(fmt.Sprint("s", i), "m", 1); err != nil {
			t.Fatalf("series %d of %d: %v", i, maxSeries, err)
		}
	}
	if _, err := s.Observe("one-more", "m", 1); !errors.Is(err, ErrTooManySeries) {
		t.Fatalf("series %d: err = %v, want ErrTooManySeries", maxSeries+1, err)
	}
	if _, err := s.Observe("s0", "m", 1); err != nil {
		t.Fatalf("a known series still scores at the limit: %v", err)
	}
}
