// Command perf measures the figures recorded in docs/performance.md against a
// built sward binary: idle memory, cold start to RUNNING, a local and a git
// deployment to RUNNING, MQTT throughput beside mosquitto in the same run,
// and NATS pub/sub throughput. Each figure is the median of several runs;
// the result is printed as a Markdown table and as one JSON line.
//
//	go run ./test/perf -sward bin/sward [-only idle,start,...] [-runs 5] [-baseline bin/sward-main]
//
// It is a harness, not a test: it prints numbers and judges them against the
// goals of design.md, but never fails on a slow machine.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	cfg := defaultConfig()
	var only string
	flag.StringVar(&cfg.sward, "sward", cfg.sward, "the sward binary to measure (make perf builds bin/sward)")
	flag.StringVar(&only, "only", strings.Join(allFigures, ","), "comma-separated figures to measure: "+strings.Join(allFigures, ","))
	flag.StringVar(&cfg.baseline, "baseline", "", "another sward binary measured beside -sward, runs interleaved, for the start and components figures (make perf BASELINE=<rev> builds one)")
	flag.IntVar(&cfg.components, "components", cfg.components, "trivial components of the components figure")
	flag.IntVar(&cfg.runs, "runs", cfg.runs, "runs per figure; the median is reported")
	flag.IntVar(&cfg.mqttQoS0, "mqtt-qos0", cfg.mqttQoS0, "messages per MQTT publisher at QoS0")
	flag.IntVar(&cfg.mqttQoS1, "mqtt-qos1", cfg.mqttQoS1, "messages per MQTT publisher at QoS1")
	flag.IntVar(&cfg.natsMsgs, "nats", cfg.natsMsgs, "messages of the NATS pub/sub run")
	flag.Parse()

	if err := cfg.selectFigures(only); err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(2)
	}
	rep, err := run(cfg)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		os.Exit(1)
	}
}
