package iotcore

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	"github.com/sward-iot/sward/internal/testutil"
	wire "github.com/sward-iot/sward/shared/ipc"
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

// BenchmarkPublishToIoTCoreQoS1 is the time one component waits for a
// QoS 1 PublishToIoTCore answer, one call after the other: the operation's
// strict decode, the mqttproxy check and the spool's durable add (the
// IPC front end's NATS round trip is not in it). 200-byte payloads; the
// quota is off, as above.
func BenchmarkPublishToIoTCoreQoS1(b *testing.B) {
	cl := startCloud(b)
	_, nc, js := startJetStream(b, "")
	opts := cl.options(b, js)
	opts.PublishRate = -1
	opts.Spool.MaxBytes = 256 << 20
	opts.Conn = nc
	s := start(b, opts)
	waitConnected(b, s, true)
	t := op.NewTable()
	s.RegisterIPC(t)
	publish, _ := t.Lookup(wire.OpPublishToIoTCore)
	body, _ := json.Marshal(wire.PublishToIoTCoreRequest{TopicName: "sward/" + thing + "/telemetry/bench", QoS: wire.QoSAtLeastOnce, Payload: make([]byte, 200)})
	acl, _ := authz.ParseACL(caller, map[string]any{"accessControl": map[string]any{authz.ServiceMQTTProxy: map[string]any{
		"p": map[string]any{"operations": []any{"aws.greengrass#PublishToIoTCore"}, "resources": []any{"sward/" + thing + "/telemetry/#"}}}}})
	c := &op.Call{Caller: caller, Name: wire.OpPublishToIoTCore, Body: body, Authorize: func(service, opName, resource string) error {
		if !acl.Allows(service, opName, resource) {
			return wire.Errorf(wire.CodeUnauthorized, "refused")
		}
		return nil
	}}
	b.ResetTimer()
	for range b.N {
		if _, err := publish.Handle(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/answer")
}
