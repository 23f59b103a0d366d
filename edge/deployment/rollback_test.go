package deployment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/lifecycle"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// writeSlowInstallRecipe writes a recipe whose Install step marks the work
// folder, then sleeps for the given seconds before the Run step starts.
func writeSlowInstallRecipe(t *testing.T, dir, name, version string, seconds int) {
	t.Helper()
	writeLifecycleRecipe(t, dir, name, version, fmt.Sprintf("touch {work:path}/installing-%s; sleep %d", version, seconds), "exec sleep 300")
}

// writeLifecycleRecipe writes a recipe with the given Install and Run steps.
func writeLifecycleRecipe(t *testing.T, dir, name, version, install, run string) {
	t.Helper()
	recipe := fmt.Sprintf(`RecipeFormatVersion: '2020-01-25'
ComponentName: %s
ComponentVersion: '%s'
Manifests:
  - Lifecycle:
      Install: %q
      Run: %q
`, name, version, install, run)
	if err := os.WriteFile(filepath.Join(dir, name+"-"+version+".yaml"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitInstalling waits until the Install step of name's version runs.
func (d *device) waitInstalling(name, version string) {
	d.t.Helper()
	marker := filepath.Join(d.root, "work", name, "installing-"+version)
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(marker); err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the Install step of %s %s did not start", name, version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rolledBackToV1 checks that a deployment ended ROLLED_BACK and that, read
// as soon as it ended, 1.0.0 is RUNNING: success of a rollback means
// settled, as for any deployment.
func (d *device) rolledBackToV1(id, because string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	end, err := d.engine.Wait(ctx, id)
	if err != nil {
		d.t.Fatal(err)
	}
	now, _ := d.sup.Status("com.example.App")
	if end.State != ddoc.RolledBack || !strings.Contains(end.Reason, because) {
		d.t.Fatalf("deployment %s: %s; want ROLLED_BACK because %s (the component is %s %s: %s)", end.State, end.Reason, because, now.Version, now.State, now.Reason)
	}
	if now.Version != "1.0.0" || now.State != lifecycle.StateRunning {
		d.t.Fatalf("when the rollback ended the component was %s %s (%s), want 1.0.0 RUNNING", now.Version, now.State, now.Reason)
	}
	// Settled means it stays so: nothing of the versions the rollback
	// replaced may end it afterwards.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if now, _ := d.sup.Status("com.example.App"); now.Version != "1.0.0" || now.State != lifecycle.StateRunning || now.Restarts != 0 {
			d.t.Fatalf("after the rollback ended the component became %s %s (%s, %d restarts), want 1.0.0 RUNNING", now.Version, now.State, now.Reason, now.Restarts)
		}
	}
	for _, o := range end.Components {
		if o.Name == "com.example.App" && o.State != string(lifecycle.StateRunning) {
			d.t.Errorf("the outcome records com.example.App %s %s (%s), want RUNNING", o.Version, o.State, o.Reason)
		}
	}
}

// fromV1 deploys com.example.App 1.0.0 from dir, then submits a
// deployment of components (name → version) to the same group and returns
// its status.
func (d *device) fromV1(dir string, components map[string]string) ddoc.Status {
	d.t.Helper()
	doc := ddoc.New("sensors")
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0"}
	if st := d.deploy(dir, doc); st.State != ddoc.Succeeded {
		d.t.Fatalf("first deployment %s: %s", st.State, st.Reason)
	}
	doc = ddoc.New("sensors")
	for name, version := range components {
		doc.Components[name] = ddoc.Component{Version: version}
	}
	st, err := d.engine.Submit(Request{Document: doc, RecipeDir: dir})
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *device) cancel(id string) {
	d.t.Helper()
	if err := d.engine.Cancel(id, "the job was canceled in IoT Jobs"); err != nil {
		d.t.Fatal(err)
	}
}

func TestACancelDuringTheNewVersionsInstallRollsBackToTheRunningPreviousVersion(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeSlowInstallRecipe(t, dir, "com.example.App", "1.0.0", 0)
	writeSlowInstallRecipe(t, dir, "com.example.App", "2.0.0", 5)
	st := d.fromV1(dir, map[string]string{"com.example.App": "2.0.0"})
	d.waitInstalling("com.example.App", "2.0.0")
	d.cancel(st.DeploymentID)
	d.rolledBackToV1(st.DeploymentID, "canceled: the job was canceled in IoT Jobs")
}

func TestABrokenComponentDuringAnotherOnesInstallRollsBackToTheRunningPreviousVersion(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeSlowInstallRecipe(t, dir, "com.example.App", "1.0.0", 0)
	writeSlowInstallRecipe(t, dir, "com.example.App", "2.0.0", 5)
	writeRecipe(t, dir, "com.example.Other", "1.0.0", "fails", 3)
	st := d.fromV1(dir, map[string]string{"com.example.App": "2.0.0", "com.example.Other": "1.0.0"})
	d.rolledBackToV1(st.DeploymentID, "com.example.Other is BROKEN")
}

func TestACancelWhileTheNewVersionWaitsForTheOldOneToStopRollsBackToItRunning(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	// 1.0.0 ignores SIGTERM: its stop takes the whole StopGrace (1 s), and
	// the cancel lands while 2.0.0 waits for it.
	writeLifecycleRecipe(t, dir, "com.example.App", "1.0.0", "true", "trap '' TERM; while :; do sleep 0.05; done")
	writeSlowInstallRecipe(t, dir, "com.example.App", "2.0.0", 5)
	st := d.fromV1(dir, map[string]string{"com.example.App": "2.0.0"})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := d.engine.WaitApplied(ctx, st.DeploymentID); err != nil {
		t.Fatal(err)
	}
	d.cancel(st.DeploymentID)
	d.rolledBackToV1(st.DeploymentID, "canceled: the job was canceled in IoT Jobs")
	if _, err := os.Stat(filepath.Join(d.root, "work", "com.example.App", "installing-2.0.0")); err == nil {
		t.Error("2.0.0's Install ran: the cancel did not land while 2.0.0 waited for 1.0.0 to stop, which is what this test is about")
	}
}
