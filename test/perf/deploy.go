package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/watch"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// deployComponents is how many components the local deployment adds: a
// small device's worth, enough that per-component work shows.
const deployComponents = 5

// deployPoll is how often the deployment figures ask the control API. One
// request costs a few hundred µs of loopback NATS; every 2 ms adds at most
// 2 ms to figures of hundreds of ms without the harness taking a core of
// the 2-core machine away from sward.
const deployPoll = 2 * time.Millisecond

// deployTimeout bounds every wait of the deployment figures: 15 × the git
// goal, so only a deployment that is stuck or failed reaches it.
const deployTimeout = 30 * time.Second

// deploySettle is how long the nucleus is left idle before the recipes are
// written: start-up work (JetStream, paging out the start-up code, the
// first GCs) is over within the first second (see idleSettle), so the
// deployment meets a nucleus as a device would, up for a while.
const deploySettle = time.Second

// measureDeploy times a local deployment: deployComponents recipes renamed
// into the idle nucleus's empty --recipes folder → deployment queued (the
// folder watcher), → all RUNNING, → deployment SUCCEEDED (the engine's
// stability window on top). Each run in a new root and recipes folder, its
// change at its own phase of the watcher's scan interval.
func measureDeploy(cfg config, work string, rep *report) error {
	label := fmt.Sprintf("local deployment: %d recipes in place → ", deployComponents)
	queued := rep.add("deploy_queued_ms", label+"deployment queued", "ms", goal{})
	running := rep.add("deploy_running_ms", label+fmt.Sprintf("%d components RUNNING", deployComponents), "ms", atMost(1000))
	succeeded := rep.add("deploy_succeeded_ms", label+"deployment SUCCEEDED", "ms", goal{})
	for i := range cfg.runs {
		t, err := deployOnce(cfg.sward, work, phase(i, cfg.runs, watch.DefaultDirInterval))
		if err != nil {
			return err
		}
		progress("  deploy run %d: queued %.1f ms, RUNNING %.1f ms, SUCCEEDED %.1f ms", i+1, ms(t.queued), ms(t.running), ms(t.succeeded))
		queued.samples = append(queued.samples, ms(t.queued))
		running.samples = append(running.samples, ms(t.running))
		succeeded.samples = append(succeeded.samples, ms(t.succeeded))
	}
	return nil
}

// deployTimes are the milestones of one deployment, from the change.
type deployTimes struct{ queued, running, succeeded time.Duration }

func deployOnce(bin, work string, offset time.Duration) (t deployTimes, err error) {
	dir, err := os.MkdirTemp(work, "deploy-")
	if err != nil {
		return t, err
	}
	recipes, staging := filepath.Join(dir, "recipes"), filepath.Join(dir, "staging")
	if err := errors.Join(os.Mkdir(recipes, 0o755), os.Mkdir(staging, 0o755)); err != nil {
		return t, err
	}
	var names []string
	for i := 1; i <= deployComponents; i++ {
		name := fmt.Sprintf("perf.Deploy%02d", i)
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(staging, name+".yaml"), trivialRecipe(name, "1.0.0"), 0o644); err != nil {
			return t, err
		}
	}

	n, err := startNucleus(bin, work, recipes)
	if err != nil {
		return t, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return t, err
	}
	defer c.Close()
	before, err := waitIdle(n, c)
	if err != nil {
		return t, err
	}
	time.Sleep(offset)

	// Rename, not write: each recipe appears whole, as an editor's save or
	// an rsync does it, and the clock starts when the last one is in place.
	for _, name := range names {
		if err := os.Rename(filepath.Join(staging, name+".yaml"), filepath.Join(recipes, name+".yaml")); err != nil {
			return t, err
		}
	}
	start := time.Now()
	deadline := start.Add(deployTimeout)
	err = waitUntil(n.process, deadline, deployPoll, fmt.Sprintf("%d deployed components RUNNING", len(names)),
		func(ctx context.Context) (bool, any, error) {
			comps, err := c.Components(ctx)
			comps = slices.DeleteFunc(comps, func(c control.Component) bool { return !slices.Contains(names, c.Name) })
			return countRunning(comps) == len(names), comps, err
		})
	if err != nil {
		return t, err
	}
	t.running = time.Since(start)

	// Only the folder watcher deploys here: the new record is its.
	st, err := waitDeployment(n, c, deadline, func(st ddoc.Status) bool { return !slices.Contains(before, st.DeploymentID) })
	if err != nil {
		return t, err
	}
	t.succeeded = time.Since(start)
	// The engine stamps CreatedAt in Submit, once it has read the folder's
	// recipes; both clocks are this machine's wall clock.
	t.queued = st.CreatedAt.Sub(start)
	return t, nil
}

// phase is run's share of interval when runs are spread evenly over it.
// Waiting it before the change makes the runs meet a watcher's poll at
// evenly spaced points of its period, so that their median and range are
// those of the poll, not of the harness's own rhythm (which would otherwise
// put every change at about the same point of the period).
func phase(run, runs int, interval time.Duration) time.Duration {
	return interval * time.Duration(run) / time.Duration(runs)
}

// waitIdle waits until every deployment the nucleus has recorded is over,
// then deploySettle more, and returns their ids.
func waitIdle(n *nucleus, c *control.Client) (ids []string, err error) {
	err = waitUntil(n.process, time.Now().Add(deployTimeout), deployPoll, "start-up deployments over",
		func(ctx context.Context) (bool, any, error) {
			list, err := c.Deployments(ctx)
			ids = ids[:0]
			for _, st := range list {
				if !st.State.Terminal() {
					return false, list, err
				}
				ids = append(ids, st.DeploymentID)
			}
			return true, list, err
		})
	if err != nil {
		return nil, err
	}
	time.Sleep(deploySettle)
	return ids, n.exited()
}

// waitDeployment waits until the newest deployment that match accepts has
// ended, and returns it; it is an error if it did not succeed.
func waitDeployment(n *nucleus, c *control.Client, deadline time.Time, match func(ddoc.Status) bool) (ddoc.Status, error) {
	var found ddoc.Status
	err := waitUntil(n.process, deadline, deployPoll, "the deployment ended",
		func(ctx context.Context) (bool, any, error) {
			list, err := c.Deployments(ctx)
			found = ddoc.Status{}
			for _, st := range list { // oldest first
				if match(st) {
					found = st
				}
			}
			return found.State.Terminal(), list, err
		})
	if err != nil {
		return found, err
	}
	if found.State != ddoc.Succeeded {
		return found, fmt.Errorf("deployment %s is %s: %s", found.DeploymentID, found.State, found.Reason)
	}
	return found, nil
}
