package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

// crashComponents are the components the crash tests deploy; test.C has a
// HARD dependency on test.A, so their stops and starts are ordered.
var crashComponents = []string{"test.A", "test.B", "test.C"}

// killDelays are how long after `deployment create` returns the nucleus is
// killed. A 1.0.0 → 2.0.0 deployment takes about a second (Installs of
// 100–300 ms, then half a second of staying RUNNING), so the kills land
// while it is queued, preparing, replacing processes, settling, rolling back
// and after it ended.
var killDelays = []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 700 * time.Millisecond, time.Second, 1500 * time.Millisecond}

// crashRecipes writes test.A, test.B and test.C at version into a folder.
// Each Install sleeps; each Run starts a child that outlives its shell unless
// its process group is killed, and appends "<pid> <version>" of that child
// to {work:path}/pids. broken makes Run exit 1 instead.
func crashRecipes(t *testing.T, version string, broken bool) string {
	t.Helper()
	recipes := map[string]string{}
	for i, name := range crashComponents {
		deps := ""
		if name == "test.C" {
			deps = "ComponentDependencies:\n  test.A: {VersionRequirement: \">=1.0.0\", DependencyType: HARD}\n"
		}
		run := `sleep 300 & echo "$! $SWARD_COMPONENT_VERSION" >> {work:path}/pids; wait`
		if broken {
			run = "exit 1"
		}
		recipes[name+"-"+version+".yaml"] = fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "%s"
%sManifests:
  - Lifecycle:
      Install: sleep 0.%d
      Run: %s
`, name, version, deps, i+1, run)
	}
	return harness.WriteRecipes(t, recipes)
}

// crashDocument merges every crash component at version into LOCAL.
func crashDocument(t *testing.T, version string) *ddoc.Document {
	t.Helper()
	doc := ddoc.New(ddoc.LocalGroup)
	for _, name := range crashComponents {
		doc.Components[name] = ddoc.Component{Version: version}
	}
	return doc
}

// componentPIDs reads the "<pid> <version>" lines each crash component's
// Run appended to its pids file under root.
func componentPIDs(t *testing.T, root string) map[string]map[int]string {
	t.Helper()
	out := map[string]map[int]string{}
	for _, name := range crashComponents {
		out[name] = map[int]string{}
		data, err := os.ReadFile(filepath.Join(root, "work", name, "pids"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue // a line the kill cut short
			}
			if pid, err := strconv.Atoi(f[0]); err == nil {
				out[name][pid] = f[1]
			}
		}
	}
	return out
}

// killStage names where the killed nucleus was in deployment id, from the
// JSON logs of the killed nucleus and of the one restarted after it.
func killStage(killed, restarted, id string) string {
	if stage, ok := logged(restarted, "resuming an interrupted deployment", id); ok {
		if stage == "ROLLING_BACK" {
			return "rolling back"
		}
		return "applying"
	}
	if _, ok := logged(killed, "deployment ended", id); ok {
		return "ended"
	}
	if _, ok := logged(killed, "deployment started", id); ok {
		return "preparing"
	}
	return "queued"
}

// logged finds the log line with message msg about deployment id, and
// returns its stage attribute.
func logged(output, msg, id string) (stage string, ok bool) {
	for line := range strings.Lines(output) {
		var entry struct{ Msg, Deployment, Stage string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == msg && entry.Deployment == id {
			return entry.Stage, true
		}
	}
	return "", false
}

// crashOutcome is what one kill point converged to.
type crashOutcome struct {
	stage   string
	state   ddoc.State
	version string
}

// killDuringDeployment deploys the crash components at 1.0.0, creates a
// deployment to 2.0.0 from v2, kills -9 the nucleus after delay, restarts it
// on the same root and checks convergence: the deployment ends, every
// component runs at one version, which matches the outcome, and no process
// of the killed nucleus survives.
func killDuringDeployment(t *testing.T, v1, v2 string, delay time.Duration) crashOutcome {
	ctx := context.Background()
	n := harness.StartAt(t, t.TempDir(), "", "")
	c := n.Client()
	first, err := c.CreateDeployment(ctx, crashDocument(t, "1.0.0"), v1, "")
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if st, err := c.WaitDeployment(waitCtx, first.DeploymentID); err != nil || st.State != ddoc.Succeeded {
		t.Fatalf("deploying 1.0.0: %s %s (err %v)", st.State, st.Reason, err)
	}

	st, err := c.CreateDeployment(ctx, crashDocument(t, "2.0.0"), v2, "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay) // the kill point under test, not synchronisation
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus survived SIGKILL")
	}
	orphans := componentPIDs(t, n.Root)

	again := harness.StartAt(t, n.Root, "", "")
	ac := again.Client()
	var final ddoc.Status
	harness.Eventually(t, 60*time.Second, "the interrupted deployment ends", func() error {
		final, err = ac.Deployment(ctx, st.DeploymentID)
		if err != nil {
			return err
		}
		if !final.State.Terminal() {
			return fmt.Errorf("it is %s (%s)", final.State, final.Reason)
		}
		return nil
	})
	want := "1.0.0"
	if final.State == ddoc.Succeeded {
		want = "2.0.0"
	}
	harness.Eventually(t, 30*time.Second, fmt.Sprintf("every component RUNNING at %s after the deployment %s", want, final.State), func() error {
		comps, err := ac.Components(ctx)
		if err != nil {
			return err
		}
		var names []string
		for _, comp := range comps {
			names = append(names, comp.Name)
			if comp.Version != want {
				return harness.Permanent(fmt.Errorf("%s runs %s after the deployment %s (%s): a mixed set %+v", comp.Name, comp.Version, final.State, final.Reason, comps))
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, crashComponents) {
			return harness.Permanent(fmt.Errorf("the nucleus runs %v, want %v", names, crashComponents))
		}
		for _, comp := range comps {
			if comp.State != "RUNNING" {
				return fmt.Errorf("%s is %s (%s)", comp.Name, comp.State, comp.Reason)
			}
		}
		return checkOneProcessEach(t, n.Root, want)
	})
	harness.Eventually(t, 10*time.Second, "no component process of the killed nucleus survives", func() error {
		for name, pids := range orphans {
			for pid, version := range pids {
				if harness.Alive(pid) {
					return fmt.Errorf("%s %s child pid %d of the killed nucleus is alive", name, version, pid)
				}
			}
		}
		return nil
	})
	return crashOutcome{stage: killStage(n.Output(), again.Output(), st.DeploymentID), state: final.State, version: want}
}

// checkOneProcessEach checks that each crash component has exactly one live
// child among those it ever recorded, and that it runs version.
func checkOneProcessEach(t *testing.T, root, version string) error {
	for name, pids := range componentPIDs(t, root) {
		var live []string
		for pid, v := range pids {
			if harness.Alive(pid) {
				live = append(live, fmt.Sprintf("%d (%s)", pid, v))
				if v != version {
					return fmt.Errorf("%s has a live %s child %d beside %s", name, v, pid, version)
				}
			}
		}
		if len(live) != 1 {
			return fmt.Errorf("%s has live children %v, want one", name, live)
		}
	}
	return nil
}

// runKillPoints kills the nucleus at every killDelays point of a fresh
// 1.0.0 → v2 deployment, one root each, and returns the outcomes.
func runKillPoints(t *testing.T, v2 string) map[time.Duration]crashOutcome {
	v1 := crashRecipes(t, "1.0.0", false)
	out := map[time.Duration]crashOutcome{}
	for _, delay := range killDelays {
		t.Run(fmt.Sprintf("kill-after-%s", delay), func(t *testing.T) {
			o := killDuringDeployment(t, v1, v2, delay)
			t.Logf("killed %s after create, while %s: %s, all at %s", delay, o.stage, o.state, o.version)
			out[delay] = o
		})
	}
	return out
}

// requireResumedKill fails unless some kill point interrupted a deployment
// that had started changing the device: otherwise recovery went untested.
func requireResumedKill(t *testing.T, outcomes map[time.Duration]crashOutcome) {
	t.Helper()
	if t.Failed() {
		return // a failed kill point recorded no outcome
	}
	for _, o := range outcomes {
		if o.stage == "applying" || o.stage == "rolling back" {
			return
		}
	}
	t.Fatalf("no kill point landed while a deployment was being applied: %+v", outcomes)
}

func TestKilledNucleusConvergesToAllOldOrAllNewAtEveryPointOfADeployment(t *testing.T) {
	t.Parallel() // with the broken variant: each mostly waits on sleeps and restarts
	outcomes := runKillPoints(t, crashRecipes(t, "2.0.0", false))
	for delay, o := range outcomes {
		if o.state != ddoc.Succeeded && o.state != ddoc.RolledBack {
			t.Errorf("killed %s after create: the deployment ended %s, want SUCCEEDED (or ROLLED_BACK)", delay, o.state)
		}
	}
	requireResumedKill(t, outcomes)
}

func TestKilledNucleusNeverLeavesABrokenVersionRunningAtAnyPointOfADeployment(t *testing.T) {
	t.Parallel()
	outcomes := runKillPoints(t, crashRecipes(t, "2.0.0", true))
	for delay, o := range outcomes {
		if o.state != ddoc.RolledBack && o.state != ddoc.Failed {
			t.Errorf("killed %s after create: a broken deployment ended %s, want ROLLED_BACK (or FAILED before anything changed)", delay, o.state)
		}
	}
	requireResumedKill(t, outcomes)
}
