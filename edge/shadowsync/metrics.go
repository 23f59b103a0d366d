package shadowsync

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a Prometheus collector of the sync's counters, for
// the nucleus's /metrics registry.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

var (
	descRequests = prometheus.NewDesc("sward_shadowsync_requests_total", "Requests the shadow sync sent to AWS IoT Core (get, update, delete).", nil, nil)
	descSyncs    = prometheus.NewDesc("sward_shadowsync_syncs_total", "Shadow syncs that wrote to the device, the cloud or both.", nil, nil)
	descFailures = prometheus.NewDesc("sward_shadowsync_failures_total", "Shadow syncs that failed; each is logged and retried unless retrying cannot help.", nil, nil)
	descPending  = prometheus.NewDesc("sward_shadowsync_pending", "Shadows waiting to be synced (while the link is down, those changed since).", nil, nil)
	descShadows  = prometheus.NewDesc("sward_shadowsync_shadows", "Shadows the configuration names for sync.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descSyncs, descFailures, descPending, descShadows} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(st.Requests))
	ch <- prometheus.MustNewConstMetric(descSyncs, prometheus.CounterValue, float64(st.Syncs))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descShadows, prometheus.GaugeValue, float64(len(c.s.shadows)))
}
