package iotcore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// BenchmarkSpoolThroughput is durable QoS 1 throughput to the endpoint:
// 8 publishers, each message spooled in JetStream before Publish returns,
// sent over mutual TLS to mosquitto and removed on its PUBACK. The clock
// stops when the spool is empty (every message acknowledged). IoT Core's
// publish quota is off (PublishRate -1): this measures the link, not AWS's
// 100 msg/s per connection. 200-byte payloads.
func BenchmarkSpoolThroughput(b *testing.B) {
	cl := startCloud(b)
	_, _, js := startJetStream(b, "")
	opts := cl.options(b, js)
	opts.PublishRate = -1
	opts.Spool.MaxBytes = 256 << 20
	s := start(b, opts)
	waitConnected(b, s, true)
	payload := make([]byte, 200)
	const publishers = 8
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < b.N; i += publishers {
				if err := s.Publish(context.Background(), Message{Topic: "sward/" + thing + "/telemetry/bench", Payload: payload, QoS: 1}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Minute)
	for s.published.Load() < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got := s.published.Load(); got < uint64(b.N) {
		b.Fatalf("%d of %d acknowledged", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkReconnect is the time from the endpoint coming back to the
// link being connected again, with the backoff at 10 ms so that it does
// not count: what is left is TCP, the TLS handshake and MQTT CONNECT.
func BenchmarkReconnect(b *testing.B) {
	cl := startCloud(b)
	_, _, js := startJetStream(b, "")
	opts := cl.options(b, js)
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 10*time.Millisecond
	s := start(b, opts)
	waitConnected(b, s, true)
	var total time.Duration
	for range b.N {
		cl.link.Cut()
		waitConnected(b, s, false)
		cl.link.Restore()
		back := time.Now()
		testutil.Until(b, "reconnected", func() bool { return s.State(context.Background()).Connected })
		total += time.Since(back)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/reconnect")
}
