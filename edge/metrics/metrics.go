package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// Metrics is the Prometheus registry of the nucleus: its own figures and the
// metrics components put with PutComponentMetric, served on /metrics.
type Metrics struct {
	Registry  *prometheus.Registry
	component *prometheus.GaugeVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec

	// seriesMu guards series: the (name, unit) pairs each component has
	// put, counted against MaxSeriesPerComponent.
	seriesMu sync.Mutex
	series   map[string]map[seriesKey]bool

	mu       sync.Mutex
	srv      *http.Server // nil until Serve
	addr     string       // bound address, "" until it serves
	closed   chan struct{}
	retrying sync.WaitGroup // Serve's background retries
}

// New creates the registry with the Go runtime and process collectors
// and the IPC figures. Other services register theirs on Registry.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), closed: make(chan struct{}), series: map[string]map[seriesKey]bool{}}
	m.component = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sward_component_metric",
		Help: "Last value a component put with PutComponentMetric, by component, metric name and unit.",
	}, []string{"component", "name", "unit"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sward_ipc_requests_total",
		Help: "IPC requests answered, by operation and result code (ok or the error code).",
	}, []string{"operation", "code"})
	// Buckets from 50 µs to 1 s: a GetConfiguration answers in about
	// 100 µs, a CreateLocalDeployment or a waiting ReadMessages in up to
	// seconds.
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sward_ipc_request_seconds",
		Help:    "Time the nucleus took to answer IPC requests, by operation.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 4, 9),
	}, []string{"operation"})
	m.Registry.MustRegister(m.component, m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// metricsRetry is how often Serve tries again to bind an address that was
// taken: a nucleus stopping on the same port frees it within seconds, and
// Prometheus scrapes every 15 s or more, so at most a scrape is lost.
const metricsRetry = 5 * time.Second

// Serve starts the /metrics endpoint on addr, which must be on loopback
// (the endpoint has no authentication); a bad addr is an error. It does not
// block. When addr cannot be bound (taken by another process), Serve logs
// it once and keeps trying every metricsRetry in the background until it
// binds or Close is called; "metrics endpoint ready" is logged once it
// serves.
func (m *Metrics) Serve(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics listener %q is not host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("metrics listener %q is not on loopback: /metrics has no authentication; use 127.0.0.1:<port>", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		m.serve(srv, ln, log)
		return nil
	}
	log.Warn("metrics endpoint not started: its address is taken; retrying in the background (free it, or pass another --metrics-listen, or off)",
		"addr", addr, "retry", metricsRetry.String(), "error", err)
	m.retrying.Add(1)
	go func() {
		defer m.retrying.Done()
		t := time.NewTicker(metricsRetry)
		defer t.Stop()
		for {
			select {
			case <-m.closed:
				return
			case <-t.C:
			}
			if ln, err := net.Listen("tcp", addr); err == nil {
				m.serve(srv, ln, log)
				return
			}
		}
	}()
	return nil
}

// serve serves srv on ln in the background, unless Close came first.
func (m *Metrics) serve(srv *http.Server, ln net.Listener, log *slog.Logger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
		ln.Close()
		return
	default:
	}
	m.addr = ln.Addr().String()
	log.Info("metrics endpoint ready", "addr", "http://"+m.addr+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "error", err)
		}
	}()
}

// Addr is the endpoint's address once it serves, empty before.
func (m *Metrics) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// Close stops the endpoint, or its retries.
func (m *Metrics) Close() {
	m.mu.Lock()
	select {
	case <-m.closed:
	default:
		close(m.closed)
	}
	srv := m.srv
	m.mu.Unlock()
	m.retrying.Wait()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// MaxSeriesPerComponent bounds the metric series (name and unit pairs) one
// component may create with PutComponentMetric. Every series costs the
// nucleus memory and every scrape time until the component is removed; 100
// is several times what a component reports (Greengrass's own components
// put a handful each), and 200,000 series once took the nucleus from 31 MB
// to 197 MB.
const MaxSeriesPerComponent = 100

type seriesKey struct{ name, unit string }

// put sets the metrics of component, all or none: a request that would take
// the component over MaxSeriesPerComponent series sets nothing.
func (m *Metrics) put(component string, xs []wire.Metric) error {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	have := m.series[component]
	var added []seriesKey
	for _, x := range xs {
		k := seriesKey{x.Name, x.Unit}
		if !have[k] && !slices.Contains(added, k) {
			added = append(added, k)
		}
	}
	if len(have)+len(added) > MaxSeriesPerComponent {
		return wire.Errorf(wire.CodeService, "component %s has %d metric series and this request adds %d: a component may have at most %d (name and unit pairs); reuse metric names rather than putting a value in the name",
			component, len(have), len(added), MaxSeriesPerComponent)
	}
	if have == nil && len(added) > 0 {
		have = map[seriesKey]bool{}
		m.series[component] = have
	}
	for _, k := range added {
		have[k] = true
	}
	for _, x := range xs {
		m.component.WithLabelValues(component, x.Name, x.Unit).Set(x.Value)
	}
	return nil
}

// Forget removes every series of component: it was removed from the device.
func (m *Metrics) Forget(component string) {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	delete(m.series, component)
	m.component.DeletePartialMatch(prometheus.Labels{"component": component})
}

// ObserveRequest counts one IPC request of op answered with err (nil: ok)
// after d. The front end passes "unknown" for a name not in its operation
// table, so the label set stays bounded whatever components send.
func (m *Metrics) ObserveRequest(op string, err error, d time.Duration) {
	code := "ok"
	if err != nil {
		code = wire.AsError(err).Code
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
}
