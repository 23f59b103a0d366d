package shadowsync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/internal/testutil"
)

// BenchmarkLocalUpdateToCloud is the figure of docs/performance.md: a
// local shadow update (the Go method, as the IPC calls it) until the
// cloud's shadow service has stored it (its /update/documents message
// carries the value), one update at a time, through the real link (mutual
// TLS MQTT on loopback, behind the test's TCP proxy). The outbound rate
// limit is lifted: one update after the other is far above the default
// 100/s, which would make every update wait 10 ms for its token.
func BenchmarkLocalUpdateToCloud(b *testing.B) {
	cfg := core()
	cfg.MaxOutboundPerSecond = 1e6
	r := startRig(b, cfg)
	docs := make(chan *nats.Msg, 64)
	sub, err := r.cnc.ChanSubscribe("$aws.things."+thing+".shadow.update.documents", docs)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := r.local.Update(context.Background(), thing, "", fmt.Appendf(nil, `{"state":{"reported":{"i":%d}}}`, i)); err != nil {
			b.Fatal(err)
		}
		for {
			m := testutil.Receive(b, docs, fmt.Sprintf("update %d in the cloud", i))
			var d struct {
				Current struct {
					State struct {
						Reported struct{ I int } `json:"reported"`
					} `json:"state"`
				} `json:"current"`
			}
			if json.Unmarshal(m.Data, &d) == nil && d.Current.State.Reported.I == i {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
