package main

import (
	"errors"
	"time"
)

// idleSettle is how long the nucleus sits idle before its memory is read:
// start-up (JetStream, the MQTT layer's internal streams) is over within the
// first second. Measured on x86: PSS is 16.60 MB at 2 s, 16.69 at 5 s and
// 17.02 at 90 s (the heap creeps until the next GC), so 5 s is a fair
// "just settled" reading and later ones differ by a few percent.
const idleSettle = 5 * time.Second

// measureIdle starts a nucleus with no components runs times and reads its
// PSS and RSS once it has settled: as it runs by default (start-up pages of
// the binary paged out), and with --keep-startup-pages for comparison.
func measureIdle(cfg config, work string, rep *report) error {
	if err := measureIdleVariant(cfg, work, rep, "idle", "", atMost(14)); err != nil {
		return err
	}
	return measureIdleVariant(cfg, work, rep, "idle_kept", " with --keep-startup-pages", goal{}, "--keep-startup-pages")
}

func measureIdleVariant(cfg config, work string, rep *report, key, label string, g goal, extra ...string) error {
	pss := rep.add(key+"_pss_mb", "idle memory"+label+", PSS", "MB", g)
	rss := rep.add(key+"_rss_mb", "idle memory"+label+", RSS", "MB", goal{})
	file := rep.add(key+"_pss_file_mb", "idle memory"+label+", PSS of files (the binary)", "MB", goal{})
	anon := rep.add(key+"_pss_anon_mb", "idle memory"+label+", PSS anonymous (heap, stacks)", "MB", goal{})
	for i := range cfg.runs {
		m, err := idleOnce(cfg.sward, work, extra...)
		if err != nil {
			return err
		}
		progress("  idle%s run %d: PSS %.2f MB (files %.2f, anonymous %.2f), RSS %.2f MB", label, i+1, mb(m.pss), mb(m.pssFile), mb(m.pssAnon), mb(m.rss))
		pss.samples = append(pss.samples, mb(m.pss))
		rss.samples = append(rss.samples, mb(m.rss))
		file.samples = append(file.samples, mb(m.pssFile))
		anon.samples = append(anon.samples, mb(m.pssAnon))
	}
	return nil
}

func idleOnce(bin, work string, extra ...string) (m memory, err error) {
	n, err := startNucleus(bin, work, "", extra...)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return m, err
	}
	c.Close() // an idle nucleus has no admin connection
	time.Sleep(idleSettle)
	if err := n.exited(); err != nil {
		return m, err
	}
	return readMemory(n.pid())
}

// mb converts bytes to MB as smaps reports them (1 MB = 1024 kB).
func mb(b int64) float64 { return float64(b) / (1 << 20) }
