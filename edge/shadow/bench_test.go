//go:build unix

package shadow

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// BenchmarkUpdateOverNATS measures shadow updates as a component sends
// them: NATS requests over loopback TCP to the update subject, each
// answered once the write is stored in JetStream and accepted, delta and
// documents are published. Sub-benchmarks keep 1, 8 or 32 requests in
// flight (one component, a few, a busy device); clients spread over 256
// things so per-shadow ordering does not serialise them, and the rate
// limit is off. Reports updates/s, the p50/p99 request latency, and the
// CPU time per update of the whole process (client, broker and service),
// which unlike the others does not depend on what else the machine runs.
//
//	go test -run '^$' -bench UpdateOverNATS -benchtime 20000x ./edge/shadow/
func BenchmarkUpdateOverNATS(b *testing.B) {
	br, _ := startBroker(b, filepath.Join(b.TempDir(), "jetstream"))
	startService(b, br, Options{RequestsPerSecondPerThing: -1})
	nc, err := nats.Connect(br.NATSURL(), nats.UserInfo(nucleusUser, nucleusPass))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	for _, inflight := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) {
			lat := make([][]time.Duration, inflight)
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for c := range inflight {
				n := b.N / inflight
				if c < b.N%inflight {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					lat[c] = benchClient(b, nc, c, n)
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			all := slices.Concat(lat...)
			if len(all) == 0 {
				return
			}
			slices.Sort(all)
			pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "updates/s")
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-us/update")
		})
	}
}

// benchClient sends n updates one after the other and returns their
// latencies.
func benchClient(b *testing.B, nc *nats.Conn, id, n int) []time.Duration {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		subject := Subject(fmt.Sprintf("bench-%d", (id+i*32)%256), "", OpUpdate, "")
		body := fmt.Appendf(nil, `{"state":{"reported":{"temperature":%d,"humidity":%d,"on":true}},"clientToken":"c%d"}`, i%40, i%100, id)
		t0 := time.Now()
		m, err := nc.Request(subject, body, waitTimeout)
		if err != nil {
			b.Error(err)
			return lat
		}
		lat = append(lat, time.Since(t0))
		if m.Data[2] != 's' { // {"state":... is accepted, {"code":... rejected
			b.Errorf("update rejected: %s", m.Data)
			return lat
		}
	}
	return lat
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
