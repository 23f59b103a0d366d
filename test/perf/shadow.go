package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/shared/ipc/client"
)

// shadowRecipe is a component that leaves its identity for the harness,
// granted every shadow operation.
const shadowRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: perf.ShadowWriter
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    accessControl:
      aws.greengrass.ShadowManager:
        perf.ShadowWriter:shadow:1: {operations: ["*"], resources: ["*"]}
Manifests:
  - Lifecycle:
      Run: >-
        printf '%s\n' "$SWARD_NATS_USER" "$SWARD_NATS_PASSWORD" "$SWARD_INBOX_PREFIX" "$SWARD_IPC_PREFIX" > identity.tmp
        && mv identity.tmp identity && exec sleep 3600
`

// Shadow load: shadowUpdates per run, shadowInFlight concurrent callers
// (each on its own thing, as devices would be), plus a sequential run for
// the latency a single caller sees.
const (
	shadowUpdates  = 20000
	shadowInFlight = 16
	shadowSeq      = 3000
)

// measureShadow runs UpdateThingShadow through the IPC as a component with
// a ShadowManager grant, with the per-thing rate limit off.
func measureShadow(cfg config, work string, rep *report) (err error) {
	recipes := filepath.Join(work, "shadow-recipes")
	if err := os.MkdirAll(recipes, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(recipes, "writer.yaml"), []byte(shadowRecipe), 0o644); err != nil {
		return err
	}
	n, err := startNucleus(cfg.sward, work, recipes, "--shadow-rate", "-1")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return err
	}
	c.Close()
	env, err := componentIdentity(n.root, "perf.ShadowWriter")
	if err != nil {
		return err
	}
	url := "nats://" + n.natsAddr
	rate := rep.add("shadow_updates_per_s", fmt.Sprintf("shadow updates via IPC, %d in flight", shadowInFlight), "updates/s", atLeast(10000))
	p99c := rep.add("shadow_update_p99_concurrent_ms", fmt.Sprintf("shadow update p99, %d in flight", shadowInFlight), "ms", goal{})
	p99s := rep.add("shadow_update_p99_ms", "shadow update p99, one caller", "ms", atMost(2))
	for i := range cfg.runs {
		r, p, err := shadowLoad(url, env, shadowInFlight, shadowUpdates)
		if err != nil {
			return err
		}
		_, ps, err := shadowLoad(url, env, 1, shadowSeq)
		if err != nil {
			return err
		}
		progress("  shadow run %d: %6.0f updates/s (p99 %.2f ms) with %d in flight; p99 %.2f ms alone", i+1, r, p, shadowInFlight, ps)
		rate.samples = append(rate.samples, r)
		p99c.samples = append(p99c.samples, p)
		p99s.samples = append(p99s.samples, ps)
	}
	return nil
}

// shadowLoad sends total updates from workers callers, each on one
// connection and thing, and returns updates/s and the p99 in ms.
func shadowLoad(url string, env client.Env, workers, total int) (float64, float64, error) {
	var mu sync.Mutex
	var lat []float64
	var firstErr error
	var wg sync.WaitGroup
	per := total / workers
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := nats.Connect(url, append(env.NATSOptions(), nats.NoReconnect())...)
			if err != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, err)
				mu.Unlock()
				return
			}
			defer nc.Close()
			c := client.New(nc, env)
			thing := fmt.Sprintf("perf-%d-%d", time.Now().UnixNano()%1e6, w)
			mine := make([]float64, 0, per)
			for i := range per {
				doc := fmt.Appendf(nil, `{"state":{"reported":{"seq":%d,"temp":21.5}}}`, i)
				t0 := time.Now()
				if _, err := c.UpdateThingShadow(context.Background(), thing, "", doc); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, float64(time.Since(t0).Microseconds())/1000)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, 0, firstErr
	}
	slices.Sort(lat)
	return float64(len(lat)) / elapsed.Seconds(), lat[len(lat)*99/100], nil
}
