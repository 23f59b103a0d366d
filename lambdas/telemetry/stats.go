package telemetry

import (
	"math"
	"slices"

	"github.com/sward-iot/sward/shared/telemetry"
)

// The anomaly rule's tuning.
const (
	// Alpha is the weight of a new reading in the exponentially weighted
	// mean and variance: about the last 2/Alpha-1 = 39 readings count, so
	// the baseline follows slow drift (day and night) but not a spike.
	Alpha = 0.05
	// MinSamples is how many readings a metric needs before the rule
	// judges one: with fewer the variance estimate is too noisy and every
	// start-up would alert.
	MinSamples = 30
	// RecentBatches is how many batch digests a state remembers to count a
	// batch once. A retry comes within minutes and a duplicate QoS 1
	// delivery within seconds, while a device sends one batch per stream
	// every few seconds at most, so 32 covers both with room to spare.
	RecentBatches = 32
)

// State is the running statistics of one metric of one stream of one
// thing, as the state table keeps it.
type State struct {
	// N counts the readings seen.
	N int64
	// Mean and Var are the exponentially weighted mean and variance. For
	// the first 1/Alpha readings the weight is 1/N, which makes them the
	// plain mean and population variance.
	Mean, Var float64
	// Recent are the digests of the last RecentBatches batches counted,
	// oldest first: a batch among them was counted already (a retried
	// invocation, a duplicate delivery) and is not counted again. Batches
	// are counted whatever their readings' times, so concurrent or late
	// batches all count.
	Recent []string
	// Version increments on every write; writes are conditional on it.
	Version int64
}

// observe judges one reading against s and counts it. It returns the
// reading's z-score and whether the rule judged it at all.
func (s *State) observe(x, zLimit float64) (z float64, judged, anomalous bool) {
	if s.N >= MinSamples && s.Var > 0 {
		z = (x - s.Mean) / math.Sqrt(s.Var)
		judged = true
		anomalous = math.Abs(z) > zLimit
	}
	s.N++
	a := max(Alpha, 1/float64(s.N))
	diff := x - s.Mean
	incr := a * diff
	s.Mean += incr
	s.Var = (1 - a) * (s.Var + diff*incr)
	return z, judged, anomalous
}

// evaluate runs one metric's readings of the batch with digest (sorted by
// timestamp) through the thresholds and the anomaly rule, updating s. It
// returns the alerts, at most one per kind, and whether s changed.
func evaluate(s *State, digest, thing, stream, metric string, records []telemetry.Record, limits telemetry.Limits) (alerts []telemetry.Alert, changed bool) {
	var low, high, anomaly *telemetry.Alert
	var worstZ float64
	counted := slices.Contains(s.Recent, digest)
	if !counted {
		s.Recent = append(s.Recent, digest)
		if n := len(s.Recent) - RecentBatches; n > 0 {
			s.Recent = slices.Delete(s.Recent, 0, n)
		}
	}
	for _, r := range records {
		if limits.Min != nil && r.Value < *limits.Min {
			low = worse(low, r, thing, stream, metric, telemetry.BelowMin, limits.Min, func(a, b float64) bool { return a < b })
		}
		if limits.Max != nil && r.Value > *limits.Max {
			high = worse(high, r, thing, stream, metric, telemetry.AboveMax, limits.Max, func(a, b float64) bool { return a > b })
		}
		if counted {
			continue // by an earlier invocation: a retry or a duplicate
		}
		mean, std := s.Mean, math.Sqrt(s.Var)
		z, _, bad := s.observe(r.Value, limits.ZScore)
		if !bad {
			continue
		}
		if anomaly == nil {
			anomaly = &telemetry.Alert{Thing: thing, Stream: stream, Metric: metric, Kind: telemetry.Anomaly}
		}
		anomaly.Count++
		if math.Abs(z) > math.Abs(worstZ) {
			worstZ = z
			anomaly.Value, anomaly.Timestamp = r.Value, r.Timestamp
			anomaly.Mean, anomaly.StdDev, anomaly.ZScore = ptr(mean), ptr(std), ptr(z)
		}
	}
	for _, a := range []*telemetry.Alert{low, high, anomaly} {
		if a != nil {
			alerts = append(alerts, *a)
		}
	}
	return alerts, !counted
}

// worse folds reading r into a threshold alert, keeping the most extreme
// value (more(a, b): a is more extreme than b).
func worse(a *telemetry.Alert, r telemetry.Record, thing, stream, metric string, kind telemetry.AlertKind, limit *float64, more func(a, b float64) bool) *telemetry.Alert {
	if a == nil {
		a = &telemetry.Alert{Thing: thing, Stream: stream, Metric: metric, Kind: kind, Value: r.Value, Timestamp: r.Timestamp, Limit: ptr(*limit)}
	}
	a.Count++
	if more(r.Value, a.Value) {
		a.Value, a.Timestamp = r.Value, r.Timestamp
	}
	return a
}

func ptr[T any](v T) *T { return &v }
