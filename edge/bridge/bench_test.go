package bridge

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/internal/testutil"
)

// BenchmarkLocalToIoTCore is the throughput of one LocalMqtt → IotCore
// mapping with the real link against mosquitto (IoT Core's publish quota
// off): components publish b.N messages of 200 B on the local broker, and
// the clock stops when the cloud side has them all. Each message is in
// the durable spool before the bridge takes the next.
func BenchmarkLocalToIoTCore(b *testing.B) {
	const thing = "bench-thing"
	l := startLocal(b)
	m := testutil.StartMosquitto(b, thing)
	link := startLink(b, l, m, thing, -1)
	startBridge(b, l, link, Mapping{Name: "Up", Topic: "bench/#", Source: Pubsub, Target: IotCore})
	cloud := cloudClient(b, m)
	var got atomic.Int64
	wait(b, cloud.Subscribe("bench/#", 1, func(mqtt.Client, mqtt.Message) { got.Add(1) }), "cloud subscribe")
	payload := make([]byte, 200)

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := l.nc.Publish(fmt.Sprintf("bench.s%d", i%8), payload); err != nil {
			b.Fatal(err)
		}
	}
	testutil.Until(b, "every message at the cloud", func() bool { return got.Load() >= int64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
