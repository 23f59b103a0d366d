package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/control"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

// writerRecipe is test.Writer at version: its Run writes the version it runs
// as and the configuration it sees to {work:path}/seen.txt, then runs until
// stopped. A pointer with no value is left as written, so seen.txt shows a
// key the configuration lacks as the literal {configuration:/z}. defaults
// is the DefaultConfiguration block; run, when set, replaces the Run script.
func writerRecipe(version, defaults, run string) string {
	if run == "" {
		run = `printf 'version=%s x={configuration:/x} y={configuration:/y} z={configuration:/z}\n' "$SWARD_COMPONENT_VERSION" > {work:path}/seen.txt
        exec sleep 300`
	}
	return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Writer
ComponentVersion: "%s"
ComponentConfiguration:
  DefaultConfiguration:
%s
Manifests:
  - Lifecycle:
      Run: |
        %s
`, version, defaults, run)
}

// writerDefaults is test.Writer's DefaultConfiguration at 1.0.0.
const writerDefaults = `    x: default-x
    y: 1`

// writerV2Defaults changes y's default and adds z: after a rollback to 1.0.0
// neither may show.
const writerV2Defaults = `    x: default-x
    y: 2
    z: from-2.0.0`

// deploy runs `sward deployment create args...` against n and returns the
// deployment id it printed first, all its output and its exit error.
func deploy(t *testing.T, n *harness.Nucleus, args ...string) (id, out string, err error) {
	t.Helper()
	out, err = n.CLI(append([]string{"deployment", "create"}, args...)...)
	id, _, _ = strings.Cut(out, "\n")
	return strings.TrimSpace(id), out, err
}

// deployOK is deploy with --wait that must succeed.
func deployOK(t *testing.T, n *harness.Nucleus, args ...string) string {
	t.Helper()
	id, out, err := deploy(t, n, append(args, "--wait")...)
	if err != nil {
		t.Fatalf("deployment create %v: %v\n%s", args, err, out)
	}
	return id
}

// deploymentStatus reads `sward deployment status id -o json`.
func deploymentStatus(t *testing.T, n *harness.Nucleus, id string) ddoc.Status {
	t.Helper()
	out, err := n.CLI("deployment", "status", id, "-o", "json")
	if err != nil {
		t.Fatalf("deployment status %s: %v\n%s", id, err, out)
	}
	var st ddoc.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("deployment status -o json is not a status: %v\n%s", err, out)
	}
	return st
}

// waitFileIs polls until path holds want (surrounding space ignored).
func waitFileIs(t *testing.T, path, want string) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, path+" holds "+want, func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(data)); got != want {
			return fmt.Errorf("it holds %q", got)
		}
		return nil
	})
}

// checkTimestamps checks that a terminal deployment was created, started
// and ended, in that order.
func checkTimestamps(t *testing.T, st ddoc.Status) {
	t.Helper()
	if st.CreatedAt.IsZero() || st.StartedAt.IsZero() || st.EndedAt.IsZero() ||
		st.StartedAt.Before(st.CreatedAt) || st.EndedAt.Before(st.StartedAt) {
		t.Errorf("deployment %s timestamps: created %v started %v ended %v", st.DeploymentID, st.CreatedAt, st.StartedAt, st.EndedAt)
	}
}

func TestDeploymentCreateFromTheCLIAddsReconfiguresUpgradesAndRemovesAComponent(t *testing.T) {
	n := harness.Start(t, "", "")
	v1 := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults,
		`printf 'version=%s greeting=%s x={configuration:/x} y={configuration:/y} z={configuration:/z}\n' "$SWARD_COMPONENT_VERSION" "$(cat {artifacts:path}/greeting.txt)" > {work:path}/seen.txt
        exec sleep 300`) + `    Artifacts:
      - URI: s3://test-bucket/test.Writer/1.0.0/greeting.txt
`})
	artifacts := t.TempDir()
	if err := os.MkdirAll(filepath.Join(artifacts, "test.Writer", "1.0.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifacts, "test.Writer", "1.0.0", "greeting.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Add, with a configuration merge.
	id, out, err := deploy(t, n, "--recipeDir", v1, "--artifactDir", artifacts, "--merge", "test.Writer=1.0.0",
		"--update-config", `{"test.Writer":{"MERGE":{"x":"hello","y":5}}}`, "--wait")
	if err != nil {
		t.Fatalf("deployment create: %v\n%s", err, out)
	}
	if got := strings.Fields(out); len(got) != 2 || got[0] != id || got[1] != "SUCCEEDED" {
		t.Fatalf("deployment create --wait prints the id, then SUCCEEDED; got:\n%s", out)
	}
	writer := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
	seen := filepath.Join(writer.WorkDir, "seen.txt")
	waitFileIs(t, seen, "version=1.0.0 greeting=hi x=hello y=5 z={configuration:/z}")

	listOut, err := n.CLI("deployment", "list", "-o", "json")
	if err != nil {
		t.Fatalf("deployment list: %v\n%s", err, listOut)
	}
	var list []ddoc.Status
	if err := json.Unmarshal([]byte(listOut), &list); err != nil {
		t.Fatalf("deployment list -o json is not a list of statuses: %v\n%s", err, listOut)
	}
	if len(list) != 1 {
		t.Fatalf("want the one deployment listed, got:\n%s", listOut)
	}
	st := list[0]
	if st.DeploymentID != id || st.Group != ddoc.LocalGroup || st.State != ddoc.Succeeded || len(st.Components) != 1 ||
		st.Components[0] != (ddoc.ComponentOutcome{Name: "test.Writer", Version: "1.0.0", State: "RUNNING", Reason: st.Components[0].Reason}) {
		t.Fatalf("deployment list -o json: want %s in group LOCAL SUCCEEDED with test.Writer 1.0.0 RUNNING, got:\n%s", id, listOut)
	}
	checkTimestamps(t, st)
	if got := deploymentStatus(t, n, id); !got.CreatedAt.Equal(st.CreatedAt) || !got.EndedAt.Equal(st.EndedAt) ||
		got.DeploymentID != st.DeploymentID || got.State != st.State || got.Group != st.Group || len(got.Components) != 1 || got.Components[0] != st.Components[0] {
		t.Fatalf("deployment status %s -o json = %+v, want what list shows: %+v", id, got, st)
	}

	// Reconfigure only: RESET runs before MERGE, the version stays.
	deployOK(t, n, "--update-config", `{"test.Writer":{"RESET":["/x"],"MERGE":{"z":"zed"}}}`)
	waitFileIs(t, seen, "version=1.0.0 greeting=hi x=default-x y=5 z=zed")

	// Upgrade: the configuration carries over to the new version.
	v2 := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("2.0.0", writerDefaults, "")})
	up := deployOK(t, n, "--recipeDir", v2, "--merge", "test.Writer=2.0.0")
	if got := n.WaitState("test.Writer", 20*time.Second, "RUNNING"); got.Version != "2.0.0" {
		t.Fatalf("after the upgrade test.Writer runs %s, want 2.0.0", got.Version)
	}
	waitFileIs(t, seen, "version=2.0.0 x=default-x y=5 z=zed")
	if got := deploymentStatus(t, n, up); len(got.Components) != 1 || got.Components[0].PreviousVersion != "1.0.0" || got.Components[0].Version != "2.0.0" {
		t.Fatalf("the upgrade's outcome: want test.Writer 1.0.0 → 2.0.0, got %+v", got.Components)
	}

	// Remove: the component and its process are gone.
	last := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
	rm := deployOK(t, n, "--remove", "test.Writer")
	if got := deploymentStatus(t, n, rm); len(got.Components) != 1 || got.Components[0].State != "REMOVED" || got.Components[0].PreviousVersion != "2.0.0" {
		t.Fatalf("the removal's outcome: want test.Writer 2.0.0 REMOVED, got %+v", got.Components)
	}
	comps, err := n.Client().Components(context.Background())
	if err != nil || len(comps) != 0 {
		t.Fatalf("after --remove the nucleus runs %+v (err %v), want nothing", comps, err)
	}
	harness.Eventually(t, 10*time.Second, "the removed component's process is gone", func() error {
		if harness.Alive(last.PID) {
			return fmt.Errorf("pid %d is alive", last.PID)
		}
		return nil
	})
}

func TestDeploymentCreateRefusesBadInputNamingTheProblem(t *testing.T) {
	n := harness.Start(t, "", "")
	recipes := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults, "")})
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"merge without a version", []string{"deployment", "create", "--merge", "NoVersion"}, []string{"--merge", "NoVersion", "Name=Version"}},
		{"update-config that is not JSON", []string{"deployment", "create", "--update-config", "not json"}, []string{"--update-config", "not valid JSON"}},
		{"unknown failure handling policy", []string{"deployment", "create", "--merge", "test.Writer=1.0.0", "--failure-handling-policy", "SOMETIMES"},
			[]string{"SOMETIMES", "ROLLBACK", "DO_NOTHING"}},
		{"component version that no recipe offers", []string{"deployment", "create", "--recipeDir", recipes, "--merge", "test.Writer=9.9.9", "--wait"},
			[]string{"FAILED", "conflict", "test.Writer", "9.9.9", "1.0.0"}},
		{"status of an unknown deployment", []string{"deployment", "status", "nope"}, []string{`"nope"`, "unknown deployment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := n.CLI(tc.args...)
			if err == nil {
				t.Fatalf("sward %v succeeded:\n%s", tc.args, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("sward %v: the error does not say %q:\n%s", tc.args, w, out)
				}
			}
		})
	}
	// Only the conflict reached the engine, and it changed nothing.
	list, err := n.Client().Deployments(context.Background())
	if err != nil || len(list) != 1 || list[0].State != ddoc.Failed {
		t.Fatalf("want one FAILED deployment (the conflict) recorded, got %+v (err %v)", list, err)
	}
	if comps, err := n.Client().Components(context.Background()); err != nil || len(comps) != 0 {
		t.Fatalf("a refused deployment started %+v (err %v)", comps, err)
	}
}

// deployWriterV1 deploys test.Writer 1.0.0 with x merged to "kept" and
// returns it RUNNING, with the line it wrote to seen.txt.
func deployWriterV1(t *testing.T, n *harness.Nucleus) (control.Component, string) {
	t.Helper()
	v1 := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults, "")})
	deployOK(t, n, "--recipeDir", v1, "--merge", "test.Writer=1.0.0", "--update-config", `{"test.Writer":{"MERGE":{"x":"kept"}}}`)
	writer := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
	want := "version=1.0.0 x=kept y=1 z={configuration:/z}"
	waitFileIs(t, filepath.Join(writer.WorkDir, "seen.txt"), want)
	return writer, want
}

// brokenWriterV2 is a folder with test.Writer 2.0.0, whose Run exits 1.
func brokenWriterV2(t *testing.T) string {
	return harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("2.0.0", writerV2Defaults,
		`echo "2.0.0 fails" > {work:path}/seen.txt; exit 1`)})
}

func TestBrokenVersionIsRolledBackToThePreviousVersionAndConfiguration(t *testing.T) {
	n := harness.Start(t, "", "")
	v1, seenV1 := deployWriterV1(t, n)

	id, out, err := deploy(t, n, "--recipeDir", brokenWriterV2(t), "--merge", "test.Writer=2.0.0", "--wait")
	if err == nil {
		t.Fatalf("deployment create --wait of a broken version exited 0:\n%s", out)
	}
	if !strings.Contains(out, "ROLLED_BACK") || !strings.Contains(out, "test.Writer") {
		t.Fatalf("deployment create --wait does not say ROLLED_BACK and name test.Writer:\n%s", out)
	}
	st := deploymentStatus(t, n, id)
	if st.State != ddoc.RolledBack || !strings.Contains(st.Reason, "test.Writer") || !strings.Contains(st.Reason, "BROKEN") {
		t.Fatalf("want ROLLED_BACK with a reason naming the BROKEN test.Writer, got %s: %s", st.State, st.Reason)
	}
	checkTimestamps(t, st)
	got := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
	if got.Version != "1.0.0" || got.PID == v1.PID {
		t.Fatalf("after the rollback test.Writer is %s pid %d; want 1.0.0 started again (was pid %d)", got.Version, got.PID, v1.PID)
	}
	// 1.0.0 runs again and sees exactly its previous configuration: not
	// 2.0.0's defaults (y: 2, z).
	waitFileIs(t, filepath.Join(got.WorkDir, "seen.txt"), seenV1)
}

func TestDoNothingPolicyLeavesTheBrokenVersionInPlace(t *testing.T) {
	n := harness.Start(t, "", "")
	v1, _ := deployWriterV1(t, n)

	id, out, err := deploy(t, n, "--recipeDir", brokenWriterV2(t), "--merge", "test.Writer=2.0.0",
		"--failure-handling-policy", "DO_NOTHING", "--wait")
	if err == nil {
		t.Fatalf("deployment create --wait of a broken version exited 0:\n%s", out)
	}
	st := deploymentStatus(t, n, id)
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "test.Writer") || !strings.Contains(st.Reason, "DO_NOTHING") {
		t.Fatalf("want FAILED with a reason naming test.Writer and DO_NOTHING, got %s: %s", st.State, st.Reason)
	}
	got := n.WaitState("test.Writer", 20*time.Second, "BROKEN")
	if got.Version != "2.0.0" {
		t.Fatalf("test.Writer is BROKEN at %s, want 2.0.0 left in place", got.Version)
	}
	if harness.Alive(v1.PID) {
		t.Fatalf("1.0.0's process %d still runs beside the BROKEN 2.0.0", v1.PID)
	}
}

func TestRestartedNucleusRunsTheLastGoodSetWithItsConfiguration(t *testing.T) {
	n := harness.Start(t, "", "")
	writer, seenV1 := deployWriterV1(t, n)
	seen := filepath.Join(writer.WorkDir, "seen.txt")
	if err := os.Remove(seen); err != nil {
		t.Fatal(err)
	}
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40*time.Second) || n.ExitErr() != nil {
		t.Fatalf("the nucleus did not stop cleanly on SIGINT: %v", n.ExitErr())
	}

	again := harness.StartAt(t, n.Root, "", "")
	got := again.WaitState("test.Writer", 20*time.Second, "RUNNING")
	if got.Version != "1.0.0" {
		t.Fatalf("after the restart test.Writer runs %s, want 1.0.0", got.Version)
	}
	waitFileIs(t, seen, seenV1)
	list, err := again.Client().Deployments(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("a restart without --recipes deploys nothing new: %+v (err %v)", list, err)
	}
}

func TestChangedDefaultConfigurationUnderTheSameVersionIsKeptAndDeploymentStatusSaysSo(t *testing.T) {
	n := harness.Start(t, "", "")
	v1 := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults, "")})
	deployOK(t, n, "--recipeDir", v1, "--merge", "test.Writer=1.0.0")
	seen := filepath.Join(n.Root, "work", "test.Writer", "seen.txt")
	waitFileIs(t, seen, "version=1.0.0 x=default-x y=1 z={configuration:/z}")

	edited := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", `    x: edited-x
    y: 1`, "")})
	id := deployOK(t, n, "--recipeDir", edited, "--merge", "test.Writer=1.0.0")
	st := deploymentStatus(t, n, id)
	if st.State != ddoc.Succeeded || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "test.Writer 1.0.0") {
		t.Fatalf("deployment %s %s, warnings %q: want SUCCEEDED with a warning naming test.Writer 1.0.0", id, st.State, st.Warnings)
	}
	out, err := n.CLI("deployment", "status", id)
	if err != nil || !strings.Contains(out, "Warning:") || !strings.Contains(out, "bump ComponentVersion") || !strings.Contains(out, "RESET") {
		t.Fatalf("deployment status %s does not show the warning: %v\n%s", id, err, out)
	}
	if !strings.Contains(n.Output(), "recipe DefaultConfiguration changed under the same version") {
		t.Fatalf("the nucleus log does not warn about test.Writer:\n%s", n.Output())
	}
	// Kept, as Greengrass keeps it: the running configuration is the stored one.
	data, err := os.ReadFile(seen)
	if got := strings.TrimSpace(string(data)); err != nil || got != "version=1.0.0 x=default-x y=1 z={configuration:/z}" {
		t.Fatalf("seen.txt holds %q (%v); the stored configuration must be kept", got, err)
	}
}

// TestGreengrassCLISpellingsUpdateAFolderComponentFromAFile: greengrass-cli's
// `deployment create -c FILE` changes the configuration of a component the
// recipes folder (group LOCAL_FOLDER) deployed, and `deployment status -i`,
// `component details -n` read the outcome.
func TestGreengrassCLISpellingsUpdateAFolderComponentFromAFile(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults, "")}), "")
	writer := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
	seen := filepath.Join(writer.WorkDir, "seen.txt")
	waitFileIs(t, seen, "version=1.0.0 x=default-x y=1 z={configuration:/z}")

	update := filepath.Join(t.TempDir(), "update.json")
	if err := os.WriteFile(update, []byte(`{"test.Writer":{"MERGE":{"x":"from-file"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	id := deployOK(t, n, "-c", update)
	waitFileIs(t, seen, "version=1.0.0 x=from-file y=1 z={configuration:/z}")

	out, err := n.CLI("deployment", "status", "-i", id)
	if err != nil || !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, "LOCAL") {
		t.Fatalf("deployment status -i %s: %v\n%s", id, err, out)
	}
	out, err = n.CLI("component", "details", "-n", "test.Writer")
	if err != nil || !strings.Contains(out, "RUNNING") {
		t.Fatalf("component details -n test.Writer: %v\n%s", err, out)
	}
}
