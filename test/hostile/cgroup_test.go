package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// daemonRecipe is test.Daemon: its Run step daemonizes a `sleep 1000`
// (double fork and setsid: out of its process group and session), appends
// the daemon's pid to daemons.pid in its work folder, and stays up.
const daemonRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Daemon
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: (setsid sh -c 'sleep 1000 & echo $! >> {work:path}/daemons.pid' &); exec sleep 1000
`

// needRoot fails a test that needs the nucleus to run as root (cgroups).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("component cgroups need a nucleus running as root, and this test runs as uid %d: run it as root (CI does)", os.Geteuid())
	}
}

// daemonPIDs waits until the daemons file of test.Daemon under root holds
// at least n pids and returns them.
func daemonPIDs(t *testing.T, root string, n int) []int {
	t.Helper()
	path := filepath.Join(root, "work", "test.Daemon", "daemons.pid")
	var pids []int
	harness.Eventually(t, 20*time.Second, fmt.Sprintf("%d daemon pids in %s", n, path), func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		if len(pids) < n {
			return fmt.Errorf("%d pids", len(pids))
		}
		return nil
	})
	return pids
}

// waitGone waits until none of pids runs, failing with what.
func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, what, func() error {
		if alive := living(pids); len(alive) > 0 {
			return fmt.Errorf("still running: %v", alive)
		}
		return nil
	})
}

// living returns those of pids that run (zombies count as gone).
func living(pids []int) []int {
	var out []int
	for _, p := range pids {
		if harness.Alive(p) {
			out = append(out, p)
		}
	}
	return out
}

func cli(t *testing.T, n *harness.Nucleus, args ...string) {
	t.Helper()
	if out, err := n.CLI(args...); err != nil {
		t.Fatalf("sward %v: %v\n%s", args, err, out)
	}
}

func TestADaemonizedGrandchildEndsWithStopRestartAndRemoval(t *testing.T) {
	needRoot(t)
	recipes := harness.WriteRecipes(t, map[string]string{"daemon.yaml": daemonRecipe})
	n := harness.Start(t, "", "")
	cli(t, n, "deployment", "create", "--recipeDir", recipes, "--merge", "test.Daemon=1.0.0", "--wait")
	n.WaitState("test.Daemon", 20*time.Second, "RUNNING")
	first := daemonPIDs(t, n.Root, 1)[0]

	cli(t, n, "component", "stop", "test.Daemon")
	n.WaitState("test.Daemon", 20*time.Second, "FINISHED")
	waitGone(t, "the daemon ends when its component stops", first)

	cli(t, n, "component", "restart", "test.Daemon")
	for i := 2; i <= 4; i++ {
		daemonPIDs(t, n.Root, i)
		if i < 4 {
			cli(t, n, "component", "restart", "test.Daemon")
		}
	}
	all := daemonPIDs(t, n.Root, 4)
	waitGone(t, "three restarts leave only the last daemon", all[1:3]...)
	if got := living(all); len(got) != 1 || got[0] != all[3] {
		t.Fatalf("daemons running after three restarts: %v, want only %d", got, all[3])
	}

	cli(t, n, "deployment", "create", "--remove", "test.Daemon", "--wait")
	waitGone(t, "the daemon ends when a deployment removes its component", all[3])
}

func TestADaemonizedGrandchildEndsWithTheNucleusCleanOrKilled(t *testing.T) {
	needRoot(t)
	recipes := harness.WriteRecipes(t, map[string]string{"daemon.yaml": daemonRecipe})
	n := harness.Start(t, recipes, "")
	n.WaitState("test.Daemon", 20*time.Second, "RUNNING")
	first := daemonPIDs(t, n.Root, 1)[0]
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(30 * time.Second) {
		t.Fatal("the nucleus did not stop on SIGINT")
	}
	if got := living([]int{first}); len(got) > 0 {
		t.Fatalf("daemon %d outlived a clean nucleus stop", first)
	}

	again := harness.StartAt(t, n.Root, recipes, "")
	again.WaitState("test.Daemon", 20*time.Second, "RUNNING")
	second := daemonPIDs(t, n.Root, 2)[1]
	again.Signal(syscall.SIGKILL)
	if !again.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus survived SIGKILL")
	}
	// Nothing reaches a daemon when its nucleus is killed; the next start
	// ends it before it starts any component.
	if !harness.Alive(second) {
		t.Fatalf("daemon %d ended with the killed nucleus: the test shows nothing", second)
	}
	third := harness.StartAt(t, n.Root, recipes, "")
	comp := third.WaitState("test.Daemon", 20*time.Second, "RUNNING")
	if harness.Alive(second) {
		t.Errorf("daemon %d of the killed nucleus still runs once its component runs again (pid %d)", second, comp.PID)
	}
	if !strings.Contains(third.Output(), "ended processes left by a previous nucleus run") {
		t.Errorf("the restarted nucleus did not log ending the leftovers:\n%s", third.Output())
	}
	all := daemonPIDs(t, n.Root, 3)
	if got := living(all); len(got) != 1 || got[0] != all[2] {
		t.Errorf("daemons running after the restart: %v, want only %d", got, all[2])
	}
}

func TestSystemResourceLimitsStopAMemoryHogAndCapCPU(t *testing.T) {
	needRoot(t)
	recipes := harness.WriteRecipes(t, map[string]string{
		// tail keeps the last line of /dev/zero, which never ends.
		"hog.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Hog
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: tail /dev/zero
`,
		"calm.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Calm
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: exec sleep 1000
`})
	n := harness.Start(t, "", "")
	cli(t, n, "deployment", "create", "--recipeDir", recipes, "--merge", "test.Hog=1.0.0", "--merge", "test.Calm=1.0.0",
		"--systemLimits", `{"test.Hog": {"memory": 16384}, "test.Calm": {"cpus": 0.5}}`,
		"--failure-handling-policy", "DO_NOTHING") // the hog breaks: keep it to look at
	hog := n.WaitState("test.Hog", 60*time.Second, "BROKEN")
	if !strings.Contains(hog.Reason, "memory limit of 16384 KB") {
		t.Errorf("BROKEN reason %q does not name the memory limit", hog.Reason)
	}
	calm := n.WaitState("test.Calm", 20*time.Second, "RUNNING")
	if got := testutil.CgroupFile(t, calm.PID, "cpu", "cpu.cfs_quota_us"); got != "50000" {
		t.Errorf("cpu.cfs_quota_us of test.Calm = %s, want 50000 (half of each 100 ms)", got)
	}
}

// counter reads the ticker's counter.
func counter(t *testing.T, path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func TestAComponentWithTheGrantPausesAndResumesAnotherOverIPC(t *testing.T) {
	needRoot(t)
	probe := harness.Tool(t, "./test/ipcprobe")
	pauser := func(checks string) string {
		return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Pauser
ComponentVersion: "1.0.0"
ComponentDependencies:
  test.Ticker: {VersionRequirement: "1.0.0", DependencyType: HARD}
ComponentConfiguration:
  DefaultConfiguration:
    checks:
%s
    accessControl:
      aws.greengrass.ipc.lifecycle:
        test.Pauser:lifecycle:1:
          operations: ["aws.greengrass#PauseComponent", "aws.greengrass#ResumeComponent"]
          resources: [test.Ticker]
Manifests:
  - Lifecycle:
      Run:
        Script: exec %s
        Setenv: {PROBE_CHECKS: "{configuration:/checks}"}
`, checks, probe)
	}
	recipes := harness.WriteRecipes(t, map[string]string{
		"ticker.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Ticker
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: i=0; while :; do i=$((i+1)); echo $i > {work:path}/counter; sleep 0.02; done
`,
		"other.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Other
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: exec sleep 1000
`,
		"pauser.yaml": pauser(`      - {name: pause-granted, call: PauseComponent, body: {componentName: test.Ticker}}
      - {name: pause-ungranted, call: PauseComponent, body: {componentName: test.Other}}
      - {name: pause-missing, call: PauseComponent, body: {}}`),
	})
	n := harness.Start(t, recipes, "")
	res := n.ProbeResults("test.Pauser", 3)
	if r := res["pause-granted"]; !r.OK {
		t.Fatalf("PauseComponent of a granted component failed: %+v", r)
	}
	if r := res["pause-ungranted"]; r.OK || r.Code != "UnauthorizedError" {
		t.Errorf("PauseComponent of a component the policy does not name: %+v, want UnauthorizedError", r)
	}
	if r := res["pause-missing"]; r.OK || r.Code != "InvalidArgumentsError" {
		t.Errorf("PauseComponent without componentName: %+v, want InvalidArgumentsError", r)
	}
	ticker := n.WaitState("test.Ticker", 10*time.Second, "RUNNING")
	if !ticker.Paused {
		t.Errorf("test.Ticker details after PauseComponent: paused = false")
	}
	if got := testutil.CgroupFile(t, ticker.PID, "freezer", "freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state of test.Ticker = %s, want FROZEN", got)
	}
	path := filepath.Join(ticker.WorkDir, "counter")
	before := counter(t, path)
	time.Sleep(200 * time.Millisecond) // the ticker would tick 10 times meanwhile if it ran
	if after := counter(t, path); after != before {
		t.Errorf("the paused ticker went on counting: %s → %s", before, after)
	}
	if other := n.WaitState("test.Other", 10*time.Second, "RUNNING"); other.Paused {
		t.Errorf("test.Other was paused without a grant")
	}

	// New checks restart the pauser (its Run step interpolates them), which
	// now resumes the ticker.
	os.Remove(filepath.Join(n.Root, "work", "test.Pauser", "results.jsonl"))
	cli(t, n, "deployment", "create", "--update-config",
		`{"test.Pauser": {"MERGE": {"checks": [{"name": "resume", "call": "ResumeComponent", "body": {"componentName": "test.Ticker"}}]}}}`, "--wait")
	if r := n.ProbeResults("test.Pauser", 1)["resume"]; !r.OK {
		t.Fatalf("ResumeComponent of a granted component failed: %+v", r)
	}
	harness.Eventually(t, 10*time.Second, "the resumed ticker counts again", func() error {
		if now := counter(t, path); now == before {
			return fmt.Errorf("counter still %s", now)
		}
		return nil
	})
	if got := testutil.CgroupFile(t, ticker.PID, "freezer", "freezer.state"); got != "THAWED" {
		t.Errorf("freezer.state of test.Ticker after ResumeComponent = %s, want THAWED", got)
	}
}
