package telemetry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sward-iot/sward/shared/telemetry"
)

// BenchmarkRecords measures the handler's per-record work without AWS
// calls: decoding the rule event and the batch, validating every record,
// laying out the archive, and evaluating thresholds and the anomaly rule
// (state in memory; the handler reads and writes it once per metric per
// batch, not per record). It reports records/s on one core.
func BenchmarkRecords(b *testing.B) {
	const perBatch, metrics = 500, 5
	var batch telemetry.Batch
	batch.FormatVersion = telemetry.FormatVersion
	for i := range perBatch {
		batch.Records = append(batch.Records, telemetry.Record{
			Metric:    fmt.Sprintf("metric-%d", i%metrics),
			Value:     20 + float64(i%17)/10,
			Timestamp: 1767229200000 + int64(i)*100,
		})
	}
	payload, err := batch.Encode()
	if err != nil {
		b.Fatal(err)
	}
	event, _ := json.Marshal(map[string]any{"data": base64.StdEncoding.EncodeToString(payload), "thing": "pi-1", "stream": "env", "receivedAt": 1767229260000})
	h, _ := unreachableHandler(b)
	ctx := context.Background()
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, res := h.prepare(ctx, event)
		if p == nil || res.Accepted != perBatch {
			b.Fatalf("prepare: %+v", res)
		}
		for _, m := range p.metrics {
			var s State
			evaluate(&s, p.digest, p.event.Thing, p.event.Stream, m, p.byMetric[m], h.Thresholds.For(m))
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "records/s")
}
