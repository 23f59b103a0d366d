// Command actor is a test component of the hostile suite: run by the nucleus
// with its own credential, it acts once the file "go" appears in its work
// folder (so a test can line several up), writes what came back to
// $SWARD_WORK_PATH/<mode>.json, then stays up until stopped.
//
//	actor flood-config N    N GetConfiguration requests at once (flood-config.json)
//	actor flood-metrics N   N metric series, 100 per PutComponentMetric request (flood-metrics.json)
//	actor latency           GetConfiguration one after the other until the file
//	                        "stop" appears (at least one); the slowest answer in
//	                        latency.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/ipc/client"
)

// Outcome counts the answers by result ("ok" or the error code) and keeps
// one error message of each code; latency adds the slowest answer.
type Outcome struct {
	Sent      int               `json:"sent"`
	Answers   map[string]int    `json:"answers"`
	Messages  map[string]string `json:"messages"`
	Seconds   float64           `json:"seconds"`
	SlowestMS float64           `json:"slowestMs"`
}

func waitFor(path string) {
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// latency calls GetConfiguration one call after the other, each with a
// 10 s timeout, until stop exists (at least once).
func latency(c *client.Client, stop string, out *Outcome) {
	for ; ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(stop); err == nil && out.Sent > 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		_, err := c.GetConfiguration(ctx)
		cancel()
		out.SlowestMS = max(out.SlowestMS, float64(time.Since(t0).Microseconds())/1000)
		out.Sent++
		if err != nil {
			e := wire.AsError(err)
			code := e.Code
			if !errors.As(err, new(*wire.Error)) {
				code, e.Message = "client", err.Error()
			}
			out.Answers[code]++
			out.Messages[code] = e.Message
			continue
		}
		out.Answers["ok"]++
	}
}

func main() {
	if len(os.Args) != 3 {
		if len(os.Args) != 2 || os.Args[1] != "latency" {
			fail(fmt.Errorf("usage: actor flood-config|flood-metrics N, or actor latency"))
		}
	}
	n := 0
	if len(os.Args) == 3 {
		var err error
		if n, err = strconv.Atoi(os.Args[2]); err != nil {
			fail(err)
		}
	}
	c, err := client.Connect()
	if err != nil {
		fail(err)
	}
	work := os.Getenv(wire.EnvWorkPath)
	waitFor(filepath.Join(work, "go"))
	out := Outcome{Answers: map[string]int{}, Messages: map[string]string{}}
	start := time.Now()
	switch os.Args[1] {
	case "flood-config":
		floodConfig(c, n, &out)
	case "flood-metrics":
		floodMetrics(c, n, &out)
	case "latency":
		latency(c, filepath.Join(work, "stop"), &out)
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
	out.Seconds = time.Since(start).Seconds()
	data, _ := json.Marshal(out)
	if err := os.WriteFile(filepath.Join(work, os.Args[1]+".json"), data, 0o600); err != nil {
		fail(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

// floodConfig publishes n GetConfiguration requests without waiting for
// any answer, then collects the answers for up to a minute.
func floodConfig(c *client.Client, n int, out *Outcome) {
	nc, env := c.Conn(), c.Env()
	var mu sync.Mutex
	got := 0
	all := make(chan struct{})
	inbox := env.Inbox + ".flood"
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		record(out, m.Data)
		if got++; got == n {
			close(all)
		}
	})
	if err != nil {
		fail(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	for range n {
		if err := nc.PublishRequest(env.IPCPrefix+"."+wire.OpGetConfiguration, inbox, []byte(`{}`)); err != nil {
			fail(err)
		}
	}
	out.Sent = n
	_ = nc.Flush()
	select {
	case <-all:
	case <-time.After(time.Minute):
	}
	mu.Lock()
	defer mu.Unlock()
}

// floodMetrics puts n distinct series, 100 to a request, waiting for each
// answer.
func floodMetrics(c *client.Client, n int, out *Outcome) {
	for i := 0; i < n; i += 100 {
		req := wire.PutComponentMetricRequest{}
		for j := i; j < min(n, i+100); j++ {
			req.Metrics = append(req.Metrics, wire.Metric{Name: fmt.Sprintf("series%d", j), Unit: "COUNT", Value: float64(j)})
		}
		out.Sent++
		err := c.Call(context.Background(), wire.OpPutComponentMetric, req, nil)
		if err == nil {
			out.Answers["ok"]++
			continue
		}
		e := wire.AsError(err)
		out.Answers[e.Code]++
		out.Messages[e.Code] = e.Message
	}
}

func record(out *Outcome, data []byte) {
	if e := wire.DecodeError(data); e != nil {
		out.Answers[e.Code]++
		out.Messages[e.Code] = e.Message
		return
	}
	out.Answers["ok"]++
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "actor:", err)
	os.Exit(1)
}
