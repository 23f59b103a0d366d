package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// measureComponentsMemory measures what each running component costs the
// nucleus: PSS with cfg.components trivial components RUNNING against PSS
// with none, both settled as the idle figure is (idleSettle after the
// start-up set is up, start-up pages paged out), each run's pair made back
// to back. With -baseline, the baseline binary's pair follows (or precedes,
// alternately) in the same run.
func measureComponentsMemory(cfg config, work string, rep *report) error {
	n := cfg.components
	if n < 1 {
		return fmt.Errorf("-components %d: need at least 1", n)
	}
	empty := filepath.Join(work, "recipes-none")
	many := filepath.Join(work, fmt.Sprintf("recipes-%d", n))
	for _, dir := range []string{empty, many} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for i := 1; i <= n; i++ {
		text := trivialRecipe(fmt.Sprintf("perf.Many%03d", i), "1.0.0")
		if err := os.WriteFile(filepath.Join(many, fmt.Sprintf("many%03d.yaml", i)), text, 0o644); err != nil {
			return err
		}
	}
	type figures struct{ none, with, per *figure }
	bins := cfg.binaries()
	figs := map[string]figures{}
	for _, b := range bins {
		figs[b.path] = figures{
			none: rep.add("components_none_pss_mb"+b.key, "memory with an empty --recipes folder, PSS"+b.label, "MB", goal{}),
			with: rep.add("components_many_pss_mb"+b.key, fmt.Sprintf("memory with %d trivial components RUNNING, PSS%s", n, b.label), "MB", goal{}),
			per:  rep.add("components_per_pss_kb"+b.key, "PSS per extra running component"+b.label, "KB", atMost(100)),
		}
	}
	for i := range cfg.runs {
		for _, b := range interleaved(bins, i) {
			none, err := componentsOnce(b.path, work, empty, 0)
			if err != nil {
				return err
			}
			with, err := componentsOnce(b.path, work, many, n)
			if err != nil {
				return err
			}
			per := float64(with.pss-none.pss) / float64(n) / 1024
			progress("  components%s run %d: PSS %.2f MB with none, %.2f MB with %d: %.0f KB each (anonymous %.0f KB)",
				b.label, i+1, mb(none.pss), mb(with.pss), n, per, float64(with.pssAnon-none.pssAnon)/float64(n)/1024)
			f := figs[b.path]
			f.none.samples = append(f.none.samples, mb(none.pss))
			f.with.samples = append(f.with.samples, mb(with.pss))
			f.per.samples = append(f.per.samples, per)
		}
	}
	return nil
}

// componentsOnce starts a nucleus deploying recipes, waits until want
// components are RUNNING, lets it settle for idleSettle and reads its memory.
func componentsOnce(bin, work, recipes string, want int) (m memory, err error) {
	n, err := startNucleus(bin, work, recipes)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return m, err
	}
	err = waitUntil(n.process, time.Now().Add(startTimeout), 10*time.Millisecond, fmt.Sprintf("%d components RUNNING", want),
		func(ctx context.Context) (bool, any, error) {
			comps, err := c.Components(ctx)
			return countRunning(comps) == want, len(comps), err
		})
	c.Close() // as for the idle figure: no admin connection while settling
	if err != nil {
		return m, err
	}
	time.Sleep(idleSettle)
	if err := n.exited(); err != nil {
		return m, err
	}
	return readMemory(n.pid())
}
