package telemetry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/sward-iot/sward/shared/strictjson"
)

// AlertKind says why an alert was raised.
type AlertKind string

// The alert kinds.
const (
	BelowMin AlertKind = "BELOW_MIN"
	AboveMax AlertKind = "ABOVE_MAX"
	Anomaly  AlertKind = "ANOMALY"
)

// MaxAlertSize bounds an alert: every field at its longest fits in 1 KB.
const MaxAlertSize = 2 << 10

// Alert is what the cloud publishes on sward/<thing>/alerts.
type Alert struct {
	FormatVersion int       `json:"formatVersion,required"`
	AlertID       string    `json:"alertId,required"`
	Thing         string    `json:"thing,required"`
	Stream        string    `json:"stream,required"`
	Metric        string    `json:"metric,required"`
	Kind          AlertKind `json:"kind,required"`
	// Value and Timestamp are the most extreme reading that raised it.
	Value     float64 `json:"value,required"`
	Timestamp int64   `json:"timestamp,required"`
	// Count is how many readings of the batch raised it.
	Count int `json:"count,required"`
	// Limit is the threshold crossed (BELOW_MIN, ABOVE_MAX).
	Limit *float64 `json:"limit,omitempty"`
	// Mean, StdDev and ZScore are the statistics an ANOMALY was judged
	// against, before the reading was counted.
	Mean   *float64 `json:"mean,omitempty"`
	StdDev *float64 `json:"stdDev,omitempty"`
	ZScore *float64 `json:"zScore,omitempty"`
}

// ID derives the alert's id from what it is about: the same readings raise
// the same id however often they are evaluated.
func (a *Alert) ID() string {
	h := sha256.New()
	for _, s := range []string{a.Thing, a.Stream, a.Metric, string(a.Kind), strconv.FormatInt(a.Timestamp, 10), strconv.FormatFloat(a.Value, 'g', -1, 64)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Encode returns the alert's JSON, filling FormatVersion and AlertID.
func (a *Alert) Encode() ([]byte, error) {
	a.FormatVersion = FormatVersion
	a.AlertID = a.ID()
	data, err := strictjson.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert: %w", err)
	}
	return data, nil
}

// DecodeAlert decodes an alert strictly, as a device reads it.
func DecodeAlert(data []byte) (*Alert, error) {
	var a Alert
	if err := strictjson.Decode(data, &a, strictjson.Options{Name: "the alert", MaxSize: MaxAlertSize, FormatVersion: FormatVersion}); err != nil {
		return nil, err
	}
	switch a.Kind {
	case BelowMin, AboveMax, Anomaly:
	default:
		return nil, &FieldError{Path: "kind", Msg: fmt.Sprintf("%q is not an alert kind; this Sward knows %s, %s and %s", strictjson.Truncate(string(a.Kind)), BelowMin, AboveMax, Anomaly), Err: ErrInvalid}
	}
	return &a, nil
}
