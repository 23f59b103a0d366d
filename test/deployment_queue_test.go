package test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

// sleeperRecipes writes one trivial component per name, each at 1.0.0, whose
// Run sleeps until stopped; startup, when set, is a Startup script that
// runs before (so a deployment of that component stays in progress for as
// long as it takes).
func sleeperRecipes(t *testing.T, names []string, startup map[string]string) string {
	t.Helper()
	recipes := map[string]string{}
	for _, name := range names {
		lc := "      Run: exec sleep 3600\n"
		if s, ok := startup[name]; ok {
			lc = "      Startup: " + s + "\n"
		}
		recipes[name+".yaml"] = fmt.Sprintf("RecipeFormatVersion: \"2020-01-25\"\nComponentName: %s\nComponentVersion: \"1.0.0\"\nManifests:\n  - Lifecycle:\n%s", name, lc)
	}
	return harness.WriteRecipes(t, recipes)
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// waitDeploymentsEnd polls the deployment list until every one of ids is
// terminal and returns their statuses by id.
func waitDeploymentsEnd(t *testing.T, n *harness.Nucleus, ids []string, timeout time.Duration) map[string]ddoc.Status {
	t.Helper()
	c := n.Client()
	byID := map[string]ddoc.Status{}
	harness.Eventually(t, timeout, fmt.Sprintf("%d deployments end", len(ids)), func() error {
		list, err := c.Deployments(context.Background())
		if err != nil {
			return err
		}
		clear(byID)
		for _, st := range list {
			byID[st.DeploymentID] = st
		}
		for _, id := range ids {
			st, ok := byID[id]
			if !ok {
				return harness.Permanent(fmt.Errorf("deployment %s is not listed", id))
			}
			if !st.State.Terminal() {
				return fmt.Errorf("deployment %s is %s", id, st.State)
			}
		}
		return nil
	})
	return byID
}

// requireRunning checks that every one of names is RUNNING.
func requireRunning(t *testing.T, n *harness.Nucleus, names []string) {
	t.Helper()
	list, err := n.Client().Components(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, c := range list {
		state[c.Name] = c.State
	}
	var wrong []string
	for _, name := range names {
		if state[name] != "RUNNING" {
			wrong = append(wrong, name+" is "+state[name])
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("%d of %d components are not RUNNING: %s", len(wrong), len(names), strings.Join(wrong, ", "))
	}
}

// requireAllSucceeded checks that every deployment of byID succeeded and
// that a carried one has its carrier's outcome.
func requireAllSucceeded(t *testing.T, byID map[string]ddoc.Status) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		st := byID[id]
		if st.State != ddoc.Succeeded {
			t.Errorf("deployment %s is %s (%s), want SUCCEEDED", id, st.State, st.Reason)
		}
		if by := st.CarriedBy; by != "" && !slices.Contains(byID[by].Carries, id) {
			t.Errorf("deployment %s says it is carried by %s, which carries %v", id, by, byID[by].Carries)
		}
	}
}

func TestFiftyConcurrentLocalDeploymentsAllReachTheDeviceAndEachReportsItsOutcome(t *testing.T) {
	n := harness.Start(t, "", "")
	names := numbered("cc.C", 50)
	recipes := sleeperRecipes(t, names, nil)
	ids := make([]string, len(names))
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for i, name := range names {
		wg.Go(func() {
			out, err := n.CLI("deployment", "create", "--recipeDir", recipes, "--merge", name+"=1.0.0")
			if err != nil {
				errs <- fmt.Errorf("deployment create --merge %s=1.0.0: %v\n%s", name, err, out)
				return
			}
			ids[i] = strings.TrimSpace(out)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	byID := waitDeploymentsEnd(t, n, ids, 3*time.Minute)
	mine := map[string]ddoc.Status{}
	var carried string
	for _, id := range ids {
		mine[id] = byID[id]
		if byID[id].CarriedBy != "" {
			carried = id
		}
	}
	requireAllSucceeded(t, mine)
	requireRunning(t, n, names)
	if carried == "" {
		t.Fatal("no deployment was carried by another: fifty queued at once must be applied together")
	}
	// What `deployment status` shows of a carried deployment: its own id,
	// its carrier and the outcome.
	st := deploymentStatus(t, n, carried)
	if st.State != ddoc.Succeeded || st.CarriedBy == "" || len(st.Components) == 0 {
		t.Fatalf("deployment status %s: %s carried by %q with %d outcomes, want SUCCEEDED with its carrier and outcomes", carried, st.State, st.CarriedBy, len(st.Components))
	}
	out, err := n.CLI("deployment", "status", carried)
	if err != nil || !strings.Contains(out, "Carried by:") || !strings.Contains(out, st.CarriedBy) {
		t.Fatalf("deployment status %s does not name its carrier: %v\n%s", carried, err, out)
	}
}

func TestQueuedLocalDeploymentsSurviveKill9OfTheNucleus(t *testing.T) {
	root := t.TempDir()
	n := harness.StartAt(t, root, "", "")
	// cc.Blocker and cc.K0 stay STARTING for 4 s: long enough to queue the
	// others behind the first and to kill the nucleus while K0's batch is
	// in progress.
	slow := map[string]string{"cc.Blocker": "sleep 4", "cc.K0": "sleep 4"}
	names := append([]string{"cc.Blocker"}, numbered("cc.K", 10)...)
	recipes := sleeperRecipes(t, names, slow)
	c := n.Client()
	blocker, out, err := deploy(t, n, "--recipeDir", recipes, "--merge", "cc.Blocker=1.0.0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	harness.Eventually(t, 20*time.Second, "the first deployment is in progress", func() error {
		st, err := c.Deployment(context.Background(), blocker)
		if err == nil && st.State != ddoc.InProgress {
			err = fmt.Errorf("it is %s", st.State)
		}
		return err
	})
	// Through the control API, as the CLI does, but without a process
	// start each: all ten are queued well within the first deployment.
	ids := []string{blocker}
	for _, name := range names[1:] {
		doc := ddoc.New(ddoc.LocalGroup)
		doc.Components[name] = ddoc.Component{Version: "1.0.0"}
		st, err := c.CreateDeployment(context.Background(), doc, "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, st.DeploymentID)
	}
	for _, id := range ids[1:] {
		if st, err := c.Deployment(context.Background(), id); err != nil || st.State != ddoc.Queued {
			t.Fatalf("deployment %s is %s before the kill (%v); the test needs it QUEUED", id, st.State, err)
		}
	}
	n.Signal(syscall.SIGKILL)
	n.WaitExit(10 * time.Second)

	// Killed while they were queued: the restarted nucleus applies them all.
	n = harness.StartAt(t, root, "", "")
	c = n.Client()
	harness.Eventually(t, time.Minute, "the queued deployments are applied together", func() error {
		st, err := c.Deployment(context.Background(), ids[1])
		if err == nil && (st.State != ddoc.InProgress || len(st.Carries) == 0) {
			err = fmt.Errorf("it is %s carrying %v", st.State, st.Carries)
		}
		return err
	})
	n.Signal(syscall.SIGKILL)
	n.WaitExit(10 * time.Second)

	// Killed while they were being applied together: still every one of them.
	n = harness.StartAt(t, root, "", "")
	requireAllSucceeded(t, waitDeploymentsEnd(t, n, ids, 2*time.Minute))
	requireRunning(t, n, names)
}
