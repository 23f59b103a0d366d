package iotcore

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of the connection's figures,
// for the nucleus's /metrics registry. Each scrape reads State.
func (s *Service) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Service }

var (
	descConnected  = prometheus.NewDesc("sward_iotcore_connected", "1 while the connection to AWS IoT Core is up.", []string{"endpoint"}, nil)
	descSince      = prometheus.NewDesc("sward_iotcore_connected_since_seconds", "When the current connection to IoT Core came up (Unix time; 0 while down).", nil, nil)
	descSpoolMsgs  = prometheus.NewDesc("sward_iotcore_spool_messages", "Messages waiting in the spool for IoT Core's PUBACK.", nil, nil)
	descSpoolBytes = prometheus.NewDesc("sward_iotcore_spool_bytes", "Bytes held by the spool.", nil, nil)
	descSpoolMax   = prometheus.NewDesc("sward_iotcore_spool_max_bytes", "The spool's bound (spooler.maxSizeInBytes).", nil, nil)
	descPublished  = prometheus.NewDesc("sward_iotcore_published_total", "Messages IoT Core acknowledged (QoS 1) or that were sent (QoS 0).", nil, nil)
	descDropped    = prometheus.NewDesc("sward_iotcore_dropped_total", "Messages dropped: QoS 0 while offline (keepQos0WhenOffline false), and spooled messages IoT Core would not take (maxPublishRetry).", nil, nil)
	descConnects   = prometheus.NewDesc("sward_iotcore_connects_total", "Connections made to IoT Core.", nil, nil)
	descConnErrors = prometheus.NewDesc("sward_iotcore_connect_errors_total", "Connection attempts to IoT Core that failed.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descSince, descSpoolMsgs, descSpoolBytes, descSpoolMax, descPublished, descDropped, descConnects, descConnErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st := c.s.State(ctx)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	connected, since := 0.0, 0.0
	if st.Connected {
		connected, since = 1, float64(st.ConnectedSince.Unix())
	}
	gauge(descConnected, connected, st.Endpoint)
	gauge(descSince, since)
	gauge(descSpoolMsgs, float64(st.SpoolMessages))
	gauge(descSpoolBytes, float64(st.SpoolBytes))
	gauge(descSpoolMax, float64(st.SpoolMaxBytes))
	counter(descPublished, c.s.published.Load())
	counter(descDropped, c.s.dropped.Load())
	counter(descConnects, c.s.connects.Load())
	counter(descConnErrors, c.s.connErrors.Load())
}
