package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sward-iot/sward/edge/control"
)

// trivialComponents is how many `sleep` components the cold start deploys:
// enough that per-component cost shows, as on a small real device.
const trivialComponents = 10

// trivialRecipe is a recipe of a component that only sleeps: what is timed
// is sward deploying and starting it, not the component.
func trivialRecipe(name, version string) []byte {
	return fmt.Appendf(nil, `RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "%s"
Manifests:
  - Lifecycle:
      Run: sleep 1000
`, name, version)
}

// measureColdStart times exec → NATS listener accepting → every trivial
// component RUNNING, each run in a fresh root.
func measureColdStart(cfg config, work string, rep *report) error {
	recipes := filepath.Join(work, "recipes-trivial")
	if err := os.MkdirAll(recipes, 0o755); err != nil {
		return err
	}
	for i := 1; i <= trivialComponents; i++ {
		text := trivialRecipe(fmt.Sprintf("perf.Trivial%02d", i), "1.0.0")
		if err := os.WriteFile(filepath.Join(recipes, fmt.Sprintf("trivial%02d.yaml", i)), text, 0o644); err != nil {
			return err
		}
	}
	type figures struct{ broker, running *figure }
	bins := cfg.binaries()
	figs := map[string]figures{}
	for _, b := range bins {
		figs[b.path] = figures{
			broker: rep.add("start_broker_ms"+b.key, "cold start: exec → NATS accepting"+b.label, "ms", goal{}),
			running: rep.add("start_running_ms"+b.key, fmt.Sprintf("cold start: exec → %d components RUNNING%s", trivialComponents, b.label),
				"ms", atMost(150)),
		}
	}
	for i := range cfg.runs {
		for _, b := range interleaved(bins, i) {
			br, r, err := coldStartOnce(b.path, work, recipes)
			if err != nil {
				return err
			}
			progress("  start%s run %d: broker %.1f ms, RUNNING %.1f ms", b.label, i+1, ms(br), ms(r))
			f := figs[b.path]
			f.broker.samples = append(f.broker.samples, ms(br))
			f.running.samples = append(f.running.samples, ms(r))
		}
	}
	return nil
}

func coldStartOnce(bin, work, recipes string) (toBroker, toRunning time.Duration, err error) {
	// The binary is read into the page cache first, as the figure's
	// definition says: the previous run's nucleus paged its own image out
	// once settled (MADV_PAGEOUT), which drops those pages from the page
	// cache too, and the next exec would time the disk instead.
	if _, err := os.ReadFile(bin); err != nil {
		return 0, 0, err
	}
	n, err := startNucleus(bin, work, recipes)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	if err := waitTCP(n.process, n.natsAddr, startTimeout); err != nil {
		return 0, 0, err
	}
	toBroker = time.Since(n.started)
	c, err := n.dial(startTimeout)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	err = waitUntil(n.process, n.started.Add(startTimeout), pollInterval, fmt.Sprintf("%d components RUNNING", trivialComponents),
		func(ctx context.Context) (bool, any, error) {
			comps, err := c.Components(ctx)
			return countRunning(comps) == trivialComponents, comps, err
		})
	if err != nil {
		return 0, 0, err
	}
	return toBroker, time.Since(n.started), nil
}

// countRunning counts the RUNNING components of a list.
func countRunning(comps []control.Component) int {
	running := 0
	for _, comp := range comps {
		if comp.State == "RUNNING" {
			running++
		}
	}
	return running
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
