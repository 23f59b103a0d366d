package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/recipes/internal/component"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/ipc/client"
)

// Options configure a Detector; main fills them from flags, which the recipe
// fills from the component configuration.
type Options struct {
	TelemetrySubject string   // readings arrive here; "sward.telemetry.>" is every sensor
	AlertPrefix      string   // alerts go to <AlertPrefix>.<sensorId>
	Metrics          []string // metrics to score; empty scores every metric of a reading
	Params           Params
	Env              component.Env
	// ReadingsStream, when set, is the stream (stream manager) every
	// reading is appended to, created if missing; empty keeps none.
	ReadingsStream string
}

// Validate names the first option that cannot work.
func (o *Options) Validate() error {
	if o.TelemetrySubject == "" || strings.ContainsAny(o.TelemetrySubject, " \t") {
		return fmt.Errorf("telemetrySubject: %q is not a NATS subject", o.TelemetrySubject)
	}
	if o.AlertPrefix == "" || strings.ContainsAny(o.AlertPrefix, "*> \t") || strings.HasSuffix(o.AlertPrefix, ".") {
		return fmt.Errorf("alertSubjectPrefix: %q must be a subject without wildcards or a trailing '.'", o.AlertPrefix)
	}
	return o.Params.Validate()
}

// Reading is what the detector needs from a telemetry message; other fields
// are ignored, so any publisher that sends {"metrics": {...}} works.
type Reading struct {
	SensorID string             `json:"sensorId"` // defaults to the subject's last token
	Time     time.Time          `json:"time"`     // defaults to the time of receipt
	Metrics  map[string]float64 `json:"metrics"`
}

// Alert is published to <alertSubjectPrefix>.<sensorId> for every anomalous
// value.
type Alert struct {
	SensorID   string    `json:"sensorId"`
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	Mean       float64   `json:"mean"`
	StdDev     float64   `json:"stddev"`
	Z          float64   `json:"z"`
	Threshold  float64   `json:"threshold"`
	Window     int       `json:"window"` // values the mean and stddev come from
	Time       time.Time `json:"time"`   // of the reading
	DetectedAt time.Time `json:"detectedAt"`
	Subject    string    `json:"subject"` // the reading arrived on
}

// Detector turns readings into alerts.
type Detector struct {
	o      Options
	scorer *Scorer
	now    func() time.Time
}

// NewDetector validates o and returns a detector with empty windows.
func NewDetector(o Options) (*Detector, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s, err := NewScorer(o.Params)
	if err != nil {
		return nil, err
	}
	return &Detector{o: o, scorer: s, now: func() time.Time { return time.Now().UTC() }}, nil
}

// AlertSubject is where alerts about sensorID are published.
func (d *Detector) AlertSubject(sensorID string) string { return d.o.AlertPrefix + "." + sensorID }

// Handle scores one telemetry message and returns its alerts, in metric
// name order. An error means the message was unusable; the windows are
// then unchanged.
func (d *Detector) Handle(subject string, data []byte) ([]Alert, error) {
	var r Reading
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading on %s: not JSON with a metrics object: %w", subject, err)
	}
	if r.Metrics == nil {
		return nil, fmt.Errorf("reading on %s: no \"metrics\" object", subject)
	}
	if r.SensorID == "" {
		r.SensorID = subject[strings.LastIndexByte(subject, '.')+1:]
	}
	if err := component.ValidToken(r.SensorID); err != nil {
		return nil, fmt.Errorf("reading on %s: sensorId: %w", subject, err)
	}
	now := d.now()
	if r.Time.IsZero() {
		r.Time = now
	}
	names := make([]string, 0, len(r.Metrics))
	for name := range r.Metrics {
		if len(d.o.Metrics) == 0 || slices.Contains(d.o.Metrics, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var alerts []Alert
	var errs []error
	for _, name := range names {
		s, err := d.scorer.Observe(r.SensorID, name, r.Metrics[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.Anomalous {
			alerts = append(alerts, Alert{
				SensorID: r.SensorID, Metric: name, Value: s.Value, Mean: s.Mean, StdDev: s.StdDev, Z: s.Z,
				Threshold: d.o.Params.Threshold, Window: s.N, Time: r.Time, DetectedAt: now, Subject: subject,
			})
		}
	}
	return alerts, errors.Join(errs...)
}

// invalidLogInterval limits how often unusable readings are logged: one
// broken publisher must not fill the disk with the detector's log.
const invalidLogInterval = 10 * time.Second

// Service is a running detector: connected, subscribed, publishing alerts.
type Service struct {
	nc   *nats.Conn
	log  *slog.Logger
	stop chan struct{}
	once sync.Once
}

// Start connects to the broker and subscribes to the telemetry subject; on
// return, readings published from then on are scored. Once subscribed, the
// client reconnects on its own.
func Start(o Options, log *slog.Logger) (*Service, error) {
	d, err := NewDetector(o)
	if err != nil {
		return nil, err
	}
	nc, err := o.Env.Connect(log)
	if err != nil {
		return nil, err
	}
	var lastInvalid time.Time
	suppressed := 0
	st := &stats{}
	var ipcClient *client.Client
	if env := client.FromEnv(); env.IPCPrefix != "" {
		ipcClient = client.New(nc, env)
	}
	keep := keepReadings(ipcClient, o.ReadingsStream, log)
	// One subscription delivers messages one at a time, so the scorer
	// needs no lock.
	_, err = nc.Subscribe(o.TelemetrySubject, func(m *nats.Msg) {
		alerts, err := d.Handle(m.Subject, m.Data)
		st.readings.Add(1)
		if keep != nil && err == nil {
			keep(m.Data)
		}
		st.alerts.Add(int64(len(alerts)))
		if err != nil {
			if time.Since(lastInvalid) >= invalidLogInterval {
				log.Warn("unusable reading", "err", err, "suppressedSinceLast", suppressed)
				lastInvalid, suppressed = time.Now(), 0
			} else {
				suppressed++
			}
		}
		for _, a := range alerts {
			publish(nc, d.AlertSubject(a.SensorID), a, log)
		}
	})
	if err == nil {
		err = nc.Flush() // the broker refuses a forbidden subscription by now
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", o.TelemetrySubject, err)
	}
	log.Info("detecting", "telemetry", o.TelemetrySubject, "alerts", d.AlertSubject("<sensorId>"),
		"window", o.Params.Size, "minSamples", o.Params.MinSamples, "threshold", o.Params.Threshold)
	svc := &Service{nc: nc, log: log, stop: make(chan struct{})}
	if ipcClient != nil {
		go st.report(ipcClient, svc.stop, log)
	}
	return svc, nil
}

// readingsStreamBytes bounds the readings stream: at the simulator's three
// readings a second of about 150 bytes, 16 MiB hold well over a day.
const readingsStreamBytes = 16 << 20

// keepReadings returns a function appending each reading to the stream
// name, creating the stream if missing; nil when there is no stream or no
// nucleus to keep it.
func keepReadings(c *client.Client, name string, log *slog.Logger) func([]byte) {
	if c == nil || name == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.CreateMessageStream(ctx, wire.MessageStreamDefinition{Name: name, MaxSize: readingsStreamBytes,
		StrategyOnFull: wire.OverwriteOldestData, Persistence: wire.PersistenceFile})
	var we *wire.Error
	if err != nil && !(errors.As(err, &we) && strings.Contains(we.Message, "already exists")) {
		log.Warn("readings are not kept: cannot create the stream; add a sward.StreamManager policy", "stream", name, "err", err)
		return nil
	}
	var failed atomic.Bool
	return func(reading []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.AppendMessage(ctx, name, reading); err != nil && !failed.Swap(true) {
			log.Warn("reading not appended to the stream (logged once)", "stream", name, "err", err)
		}
	}
}

// Shutdown lets readings already received finish and their alerts go out,
// then closes the connection.
// Calling it again does nothing.
func (s *Service) Shutdown() {
	s.once.Do(func() {
		close(s.stop)
		component.DrainAndClose(s.nc, s.log)
	})
}

// metricsInterval is how often the detector puts its counters on the
// nucleus's /metrics: often enough for a 15 s Prometheus scrape, rare enough
// to cost nothing.
const metricsInterval = 10 * time.Second

// stats counts what the detector did, for PutComponentMetric.
type stats struct{ readings, alerts atomic.Int64 }

// report puts the counters through the IPC until stop closes; a refusal
// (no componentmetric policy) is logged once and ends the reporting.
func (st *stats) report(c *client.Client, stop <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(metricsInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.PutComponentMetric(ctx,
			wire.Metric{Name: "readings", Unit: "COUNT", Value: float64(st.readings.Load())},
			wire.Metric{Name: "alerts", Unit: "COUNT", Value: float64(st.alerts.Load())})
		cancel()
		if err != nil {
			log.Warn("metrics not reported; add an aws.greengrass.ipc.componentmetric policy to report them", "err", err)
			return
		}
	}
}

func publish(nc *nats.Conn, subject string, a Alert, log *slog.Logger) {
	data, err := json.Marshal(a)
	if err != nil {
		log.Error("encode alert", "sensor", a.SensorID, "metric", a.Metric, "err", err)
		return
	}
	log.Warn("anomaly", "sensor", a.SensorID, "metric", a.Metric, "value", a.Value,
		"mean", a.Mean, "stddev", a.StdDev, "z", a.Z, "subject", subject)
	if err := nc.Publish(subject, data); err != nil {
		log.Error("publish alert", "subject", subject, "err", err)
	}
}
