package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/shared/ipc/client"
)

// ipcRecipe is a component that only leaves its identity for the harness,
// with a pubsub grant on perf/# both ways.
func ipcRecipe(name string) []byte {
	return []byte(fmt.Sprintf(`RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    threshold: 5
    accessControl:
      aws.greengrass.ipc.pubsub:
        %s:perf:1: {operations: ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"], resources: ["perf/#"]}
Manifests:
  - Lifecycle:
      Run: >-
        printf '%%s\n' "$SWARD_NATS_USER" "$SWARD_NATS_PASSWORD" "$SWARD_INBOX_PREFIX" "$SWARD_IPC_PREFIX" > identity.tmp
        && mv identity.tmp identity && exec sleep 3600
`, name, name))
}

// ipcRounds is the GetConfiguration round trips of one run: enough for a
// stable 99th percentile (100 samples beyond it).
const ipcRounds = 10000

// measureIPC deploys two components and measures, with their own
// credentials (so every message passes their permission checks), the
// component-to-component pub/sub rate and the GetConfiguration round trip.
func measureIPC(cfg config, work string, rep *report) (err error) {
	recipes := filepath.Join(work, "ipc-recipes")
	if err := os.MkdirAll(recipes, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"perf.Publisher", "perf.Subscriber"} {
		if err := os.WriteFile(filepath.Join(recipes, name+".yaml"), ipcRecipe(name), 0o644); err != nil {
			return err
		}
	}
	n, err := startNucleus(cfg.sward, work, recipes)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return err
	}
	c.Close()
	pub, err := componentIdentity(n.root, "perf.Publisher")
	if err != nil {
		return err
	}
	sub, err := componentIdentity(n.root, "perf.Subscriber")
	if err != nil {
		return err
	}
	url := "nats://" + n.natsAddr

	rate := rep.add("ipc_pubsub_msgs_per_s", "component → component pub/sub 128 B (own credentials, ACL-checked)", "msgs/s", atLeast(1e6))
	lost := rep.add("ipc_pubsub_lost", fmt.Sprintf("component → component pub/sub: lost (of %d)", cfg.natsMsgs), "msgs", noLoss())
	p50 := rep.add("ipc_getconfig_p50_us", "GetConfiguration round trip, median", "µs", goal{})
	p99 := rep.add("ipc_getconfig_p99_us", "GetConfiguration round trip, 99th percentile", "µs", atMost(1000))
	for i := range cfg.runs {
		r, err := natsLoad(url, pub.NATSOptions(), sub.NATSOptions(), "perf.ipc", n.pid(), cfg.natsMsgs)
		if err != nil {
			return err
		}
		progress("  ipc pub/sub run %d: %8.0f msgs/s, lost %d", i+1, r.rate(), r.lost())
		rate.samples = append(rate.samples, r.rate())
		lost.samples = append(lost.samples, float64(r.lost()))

		a, b, err := getConfigLatency(url, pub)
		if err != nil {
			return err
		}
		progress("  ipc GetConfiguration run %d: p50 %.0f µs, p99 %.0f µs", i+1, a, b)
		p50.samples = append(p50.samples, a)
		p99.samples = append(p99.samples, b)
	}
	return nil
}

// componentIdentity reads what the perf component left in its work folder.
func componentIdentity(root, name string) (client.Env, error) {
	path := filepath.Join(root, "work", name, "identity")
	deadline := time.Now().Add(startTimeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			f := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(f) == 4 {
				return client.Env{User: f[0], Password: f[1], Inbox: f[2], IPCPrefix: f[3], Component: name}, nil
			}
		}
		if time.Now().After(deadline) {
			return client.Env{}, fmt.Errorf("component %s left no identity in %s: %v", name, path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getConfigLatency times ipcRounds sequential GetConfiguration calls and
// returns the median and 99th percentile in µs.
func getConfigLatency(url string, env client.Env) (p50, p99 float64, err error) {
	nc, err := nats.Connect(url, append(env.NATSOptions(), nats.NoReconnect())...)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	c := client.New(nc, env)
	ctx := context.Background()
	for range 200 { // warm up: the first calls set up the response inbox
		if _, err := c.GetConfiguration(ctx, "threshold"); err != nil {
			return 0, 0, err
		}
	}
	lat := make([]float64, 0, ipcRounds)
	for range ipcRounds {
		t0 := time.Now()
		v, err := c.GetConfiguration(ctx, "threshold")
		if err != nil {
			return 0, 0, err
		}
		lat = append(lat, float64(time.Since(t0).Microseconds()))
		if v["threshold"] != 5.0 {
			return 0, 0, fmt.Errorf("GetConfiguration answered %v, want threshold 5", v)
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}
