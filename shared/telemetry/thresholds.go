package telemetry

import (
	"maps"
	"math"
	"slices"

	"github.com/sward-iot/sward/shared/strictjson"
)

// DefaultZScore is how many standard deviations from the running mean make
// a reading anomalous. At 3 a normal signal sampled at 1 Hz alerts about ten
// times an hour; at 4 about once a day, which is what an operator reads.
const DefaultZScore = 4

// MaxThresholdsSize bounds SWARD_THRESHOLDS. Lambda environment variables
// total at most 4 KB, so a larger value cannot be deployed anyway.
const MaxThresholdsSize = 4 << 10

// Thresholds are the per-metric alert settings, keyed by metric name.
type Thresholds map[string]Limits

// Limits are one metric's alert settings. Nil Min or Max means no bound;
// zero ZScore means DefaultZScore.
type Limits struct {
	Min    *float64 `json:"min,omitempty" example:"-20"`
	Max    *float64 `json:"max,omitempty" example:"80"`
	ZScore float64  `json:"zScore,omitempty" example:"4"`
}

// ParseThresholds decodes and validates SWARD_THRESHOLDS. An empty string
// means no thresholds.
func ParseThresholds(s string) (Thresholds, error) {
	t := Thresholds{}
	if s == "" {
		return t, nil
	}
	if err := strictjson.Decode([]byte(s), &t, strictjson.Options{Name: "SWARD_THRESHOLDS", MaxSize: MaxThresholdsSize}); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Validate checks every entry.
func (t Thresholds) Validate() error {
	var p strictjson.Problems
	for _, metric := range slices.Sorted(maps.Keys(t)) {
		l := t[metric]
		path := strictjson.Key("", metric)
		if err := ValidateMetric(metric); err != nil {
			p.Add(path, "%v", err)
		}
		if l.Min == nil && l.Max == nil && l.ZScore == 0 {
			p.Add(path, "sets nothing; give min, max or zScore, such as {\"min\": -20, \"max\": 80}, or remove the metric")
		}
		if l.Min != nil && l.Max != nil && *l.Min > *l.Max {
			p.Add(strictjson.Field(path, "min"), "is %v, above max %v; swap them", *l.Min, *l.Max)
		}
		if z := l.ZScore; z < 0 || math.IsNaN(z) {
			p.Add(strictjson.Field(path, "zScore"), "is %v; give a positive number of standard deviations such as %d, or leave it out for the default", z, DefaultZScore)
		}
	}
	return p.Err()
}

// For returns the limits of metric, with the default z-score filled in.
func (t Thresholds) For(metric string) Limits {
	l := t[metric]
	if l.ZScore == 0 {
		l.ZScore = DefaultZScore
	}
	return l
}
