package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// allFigures are the -only names, in the order they are measured.
var allFigures = []string{"idle", "idlelink", "start", "deploy", "git", "mqtt", "mqttconn", "nats", "ipc", "shadow", "components"}

// config is what the flags set.
type config struct {
	sward    string
	baseline string // another sward binary to measure beside sward, "" for none
	runs     int
	// components is how many trivial components the components figure runs.
	components int
	figures    []string
	mqttQoS0   int // messages per publisher
	mqttQoS1   int // messages per publisher
	natsMsgs   int
}

func defaultConfig() config {
	return config{
		sward: "bin/sward",
		// Five runs give a median that one slow outlier (a page-cache miss,
		// a GC at the wrong moment) cannot move, in about three minutes.
		runs: 5,
		// Counts chosen so that each MQTT case takes a few seconds per broker
		// on a 2-core x86 VM (the paho subscriber takes roughly 20-40k msgs/s
		// at QoS0 and 10-15k at QoS1 there): long enough that connecting and
		// subscribing are noise, short enough for five runs of four cases.
		mqttQoS0: 40_000,
		mqttQoS1: 15_000,
		// One NATS run of 2M messages lasts a few seconds at the 0.4-1M
		// msgs/s one nats.go publisher reaches on a loopback VM.
		natsMsgs: 2_000_000,
		// 50 components: enough that the per-component cost stands well
		// above the run-to-run noise of the idle PSS (about 0.2 MB).
		components: 50,
	}
}

func (c *config) selectFigures(only string) error {
	c.figures = nil
	for _, f := range strings.Split(only, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(allFigures, f) {
			return fmt.Errorf("-only: unknown figure %q: use some of %s", f, strings.Join(allFigures, ","))
		}
		c.figures = append(c.figures, f)
	}
	if len(c.figures) == 0 {
		return fmt.Errorf("-only: no figure named: use some of %s", strings.Join(allFigures, ","))
	}
	if c.runs < 1 {
		return fmt.Errorf("-runs %d: need at least 1", c.runs)
	}
	return nil
}

func (c *config) wants(figure string) bool { return slices.Contains(c.figures, figure) }

// run measures the selected figures. It returns the report so far even when
// a later figure fails, so that what was measured is still printed.
func run(cfg config) (*report, error) {
	bin, err := filepath.Abs(cfg.sward)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return nil, fmt.Errorf("-sward %s: not a file: build it with `make build` or `go build -o bin/sward ./edge/cmd/sward`", cfg.sward)
	}
	cfg.sward = bin
	if err := cfg.checkBaseline(); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "sward-perf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	// A nucleus run as root runs its components as another user, who must
	// be able to traverse into each root (MkdirTemp makes work 0700).
	if err := os.Chmod(work, 0o711); err != nil {
		return nil, err
	}

	rep := newReport(cfg)
	var errs []error
	for _, f := range cfg.figures {
		progress("measuring %s (%d runs)", f, cfg.runs)
		var err error
		switch f {
		case "idle":
			err = measureIdle(cfg, work, rep)
		case "idlelink":
			err = measureIdleLink(cfg, work, rep)
		case "start":
			err = measureColdStart(cfg, work, rep)
		case "deploy":
			err = measureDeploy(cfg, work, rep)
		case "git":
			err = measureGit(cfg, work, rep)
		case "mqtt":
			err = measureMQTT(cfg, work, rep)
		case "mqttconn":
			err = measureMQTTConns(cfg, work, rep)
		case "nats":
			err = measureNATS(cfg, work, rep)
		case "ipc":
			err = measureIPC(cfg, work, rep)
		case "shadow":
			err = measureShadow(cfg, work, rep)
		case "components":
			err = measureComponentsMemory(cfg, work, rep)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return rep, errors.Join(errs...)
}

// progress reports what the harness is doing on stderr, so stdout stays the
// table and the JSON line.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "perf: "+format+"\n", args...)
}
