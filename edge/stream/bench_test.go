package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/shared/ipc"
)

// BenchmarkAppend measures appends of 200-byte messages per second in each
// mode, from 1, 64 and 256 concurrent appenders (README.md records the
// figures):
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3s ./edge/stream/
func BenchmarkAppend(b *testing.B) {
	modes := []struct {
		name string
		def  ipc.MessageStreamDefinition
		via  string // "go" (Manager.Append) or "handle" (JSON through Handle)
	}{
		{"memory", ipc.MessageStreamDefinition{MaxSize: 48 << 20, Persistence: ipc.PersistenceMemory}, "go"},
		{"file", ipc.MessageStreamDefinition{MaxSize: 512 << 20}, "go"},
		{"file-flushOnWrite", ipc.MessageStreamDefinition{MaxSize: 512 << 20, FlushOnWrite: true}, "go"},
		{"file-handle", ipc.MessageStreamDefinition{MaxSize: 512 << 20}, "handle"},
		{"file-flushOnWrite-handle", ipc.MessageStreamDefinition{MaxSize: 512 << 20, FlushOnWrite: true}, "handle"},
	}
	payload := bytes.Repeat([]byte("p"), 200)
	body, _ := json.Marshal(ipc.AppendMessageRequest{StreamName: "bench", Payload: payload})
	for _, mode := range modes {
		for _, appenders := range []int{1, 64, 256} {
			b.Run(fmt.Sprintf("%s/appenders=%d", mode.name, appenders), func(b *testing.B) {
				e := newEnv(b, "", Options{})
				d := mode.def
				d.Name, d.StrategyOnFull = "bench", ipc.OverwriteOldestData
				mustCreate(b, e.m, d)
				ctx := context.Background()
				appendOne := func() error {
					if mode.via == "handle" {
						_, err := e.m.Handle(ctx, ipc.OpAppendMessage, body)
						return err
					}
					_, err := e.m.Append(ctx, "bench", payload)
					return err
				}
				b.SetBytes(int64(len(payload)))
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				b.SetParallelism(max(1, appenders/maxProcs()))
				cpu0 := cpuTime()
				start := time.Now()
				b.ResetTimer()
				if appenders == 1 {
					for range b.N {
						if err := appendOne(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := appendOne(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				// CPU per message (broker and Manager, all goroutines): the
				// figure that holds on a machine shared with other work.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
			})
		}
	}
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJetStreamBaseline is the ceiling the Manager works under: bare
// asynchronous JetStream publishes of 200 bytes from one goroutine, 256 in
// flight, into a File stream, without the Manager.
//
//	go test -run '^$' -bench BenchmarkJetStreamBaseline -benchtime 3s ./edge/stream/
func BenchmarkJetStreamBaseline(b *testing.B) {
	e := newEnv(b, "", Options{})
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "baseline", Subjects: []string{"baseline"}, MaxBytes: 512 << 20}); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("p"), 200)
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		for {
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: "baseline", Data: payload}); err == nil {
				break
			}
			<-js.PublishAsyncComplete() // stalled: let the acks catch up
		}
	}
	<-js.PublishAsyncComplete()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}
