package main

import (
	"errors"
	"fmt"
	"math"
)

// Params tune the rolling z-score.
type Params struct {
	// Size is how many recent values make a metric's baseline. Longer
	// windows give steadier statistics but follow drift more slowly.
	Size int
	// MinSamples is how many values a window needs before it scores: the
	// standard deviation of a handful of values is too noisy to judge by.
	MinSamples int
	// Threshold is the |z| above which a value is anomalous.
	Threshold float64
}

// maxWindowSize bounds memory per series (8 bytes a value): 10 000 values is
// nearly three hours at 1 Hz, longer than any baseline a z-score should use.
const maxWindowSize = 10000

// Validate names the first parameter that cannot work.
func (p Params) Validate() error {
	switch {
	case p.Size < 2 || p.Size > maxWindowSize:
		return fmt.Errorf("window.size: %d must be between 2 and %d", p.Size, maxWindowSize)
	case p.MinSamples < 2 || p.MinSamples > p.Size:
		return fmt.Errorf("window.minSamples: %d must be between 2 and window.size (%d)", p.MinSamples, p.Size)
	case !(p.Threshold > 0) || math.IsInf(p.Threshold, 0):
		return fmt.Errorf("threshold: %v must be a positive number", p.Threshold)
	}
	return nil
}

// Window is a fixed-size ring of a metric's most recent values.
type Window struct {
	values []float64
	next   int
	n      int
}

// NewWindow returns an empty window holding at most size values.
func NewWindow(size int) *Window { return &Window{values: make([]float64, size)} }

// Len is the number of values in the window.
func (w *Window) Len() int { return w.n }

// Push adds x, evicting the oldest value once the window is full.
func (w *Window) Push(x float64) {
	w.values[w.next] = x
	w.next = (w.next + 1) % len(w.values)
	if w.n < len(w.values) {
		w.n++
	}
}

// Stats returns the mean and the sample standard deviation (n-1) of the
// window. Two passes over at most maxWindowSize values are cheap and avoid
// the cancellation error of running sums of squares.
func (w *Window) Stats() (mean, stddev float64) {
	if w.n == 0 {
		return 0, 0
	}
	vals := w.values[:w.n] // the ring's order does not matter for these sums
	for _, v := range vals {
		mean += v
	}
	mean /= float64(w.n)
	if w.n < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(w.n-1))
}

// Score is the verdict on one value.
type Score struct {
	Value, Mean, StdDev, Z float64
	N                      int // values Mean and StdDev were computed from
	// Scored is false while the window is warming up or has no spread (a
	// constant signal has no z-score); Z is then 0.
	Scored    bool
	Anomalous bool // Scored and |Z| > threshold
}

// Observe scores x against the window as it was before x, so a spike does
// not dilute its own score, then adds x to the window. A scored value is
// added clamped to mean ± threshold·stddev (winsorised): an outlier then
// cannot inflate the baseline and hide the next fault, while a lasting
// level shift still moves the window, a step at a time, until it is the new
// normal.
func (w *Window) Observe(x float64, p Params) Score {
	s := Score{Value: x, N: w.n}
	s.Mean, s.StdDev = w.Stats()
	if w.n >= p.MinSamples && s.StdDev > 0 {
		s.Scored = true
		s.Z = (x - s.Mean) / s.StdDev
		s.Anomalous = math.Abs(s.Z) > p.Threshold
		limit := p.Threshold * s.StdDev
		x = min(max(x, s.Mean-limit), s.Mean+limit)
	}
	w.Push(x)
	return s
}

// ErrTooManySeries is returned by Scorer.Observe for a new sensor and metric
// pair once maxSeries pairs are tracked.
var ErrTooManySeries = errors.New("too many sensor/metric series")

// maxSeries bounds the detector's memory against a publisher that invents
// sensor ids: 4096 series of 60 values is about 2 MB.
const maxSeries = 4096

// Scorer keeps one window per sensor and metric. It is not safe for
// concurrent use; the detector feeds it from one subscription.
type Scorer struct {
	p       Params
	windows map[series]*Window
}

type series struct{ sensor, metric string }

// NewScorer returns a scorer with empty windows.
func NewScorer(p Params) (*Scorer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Scorer{p: p, windows: map[series]*Window{}}, nil
}

// Observe scores value x of metric on sensor.
func (s *Scorer) Observe(sensor, metric string, x float64) (Score, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Score{}, fmt.Errorf("sensor %q metric %q: value %v is not a finite number", sensor, metric, x)
	}
	k := series{sensor, metric}
	w, ok := s.windows[k]
	if !ok {
		if len(s.windows) >= maxSeries {
			return Score{}, fmt.Errorf("sensor %q metric %q: %w (limit %d)", sensor, metric, ErrTooManySeries, maxSeries)
		}
		w = NewWindow(s.p.Size)
		s.windows[k] = w
	}
	return w.Observe(x, s.p), nil
}
