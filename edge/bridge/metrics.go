package bridge

import "github.com/prometheus/client_golang/prometheus"

// Collector returns a Prometheus collector of the bridge's counters per
// mapping, for the nucleus's /metrics registry.
func (b *Bridge) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Bridge }

var (
	descBridged = prometheus.NewDesc("sward_bridge_messages_total", "Messages the MQTT bridge delivered to the mapping's target (for IotCore: into the spool).", []string{"mapping"}, nil)
	descFailed  = prometheus.NewDesc("sward_bridge_failed_total", "Messages the MQTT bridge could not deliver, or that were dropped before it took them (slow target); each is logged.", []string{"mapping"}, nil)
	descEchoes  = prometheus.NewDesc("sward_bridge_echoes_total", "IoT Core's copies of the bridge's own publishes, dropped so they are not bridged back.", []string{"mapping"}, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBridged
	ch <- descFailed
	ch <- descEchoes
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.b.counts {
		ch <- prometheus.MustNewConstMetric(descBridged, prometheus.CounterValue, float64(n.bridged.Load()), name)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(n.failed.Load()), name)
		ch <- prometheus.MustNewConstMetric(descEchoes, prometheus.CounterValue, float64(n.echoes.Load()), name)
	}
}
