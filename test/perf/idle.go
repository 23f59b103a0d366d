package main

import (
	"errors"
	"time"
)

// idleSettle is how long the nucleus sits idle before its memory is read:
// JetStream and the MQTT layer finish creating their internal streams within
// the first second, and the figure stops moving after a few more (the Go
// scavenger returns memory slowly, so waiting longer only lowers RSS a little).
const idleSettle = 5 * time.Second

// measureIdle starts a nucleus with no components runs times and reads its
// PSS and RSS once it has settled.
func measureIdle(cfg config, work string, rep *report) error {
	pss := rep.add("idle_pss_mb", "idle memory, PSS", "MB", atMost(14))
	rss := rep.add("idle_rss_mb", "idle memory, RSS", "MB", goal{})
	for i := range cfg.runs {
		m, err := idleOnce(cfg.sward, work)
		if err != nil {
			return err
		}
		progress("  idle run %d: PSS %.2f MB, RSS %.2f MB", i+1, mb(m.pss), mb(m.rss))
		pss.samples = append(pss.samples, mb(m.pss))
		rss.samples = append(rss.samples, mb(m.rss))
	}
	return nil
}

func idleOnce(bin, work string) (m memory, err error) {
	n, err := startNucleus(bin, work, "")
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
