package deployment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/internal/testutil"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

func TestADeploymentCanceledWhileItIsAppliedFollowsItsFailureHandling(t *testing.T) {
	// Each set must hold for two seconds: the cancel lands while the engine
	// waits for 2.0.0 to prove it stays RUNNING.
	d := newDeviceWith(t, func(o *Options) { o.StableFor = 2 * time.Second })
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "v1", 0)
	writeRecipe(t, dir, "com.example.App", "2.0.0", "v2", 0)
	doc := ddoc.New("sensors")
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0"}
	if st := d.deploy(dir, doc); st.State != ddoc.Succeeded {
		t.Fatalf("first deployment %s: %s", st.State, st.Reason)
	}
	doc = ddoc.New("sensors")
	doc.Components["com.example.App"] = ddoc.Component{Version: "2.0.0"}
	st, err := d.engine.Submit(Request{Document: doc, RecipeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := d.engine.WaitApplied(ctx, st.DeploymentID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.sup.WaitUntil(ctx, "com.example.App", func(s lifecycle.Status) bool {
		return s.Version == "2.0.0" && s.State == lifecycle.StateRunning
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.engine.Cancel(st.DeploymentID, "the job was canceled in IoT Jobs"); err != nil {
		t.Fatal(err)
	}
	end, err := d.engine.Wait(ctx, st.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if end.State != ddoc.RolledBack || !strings.Contains(end.Reason, "canceled: the job was canceled in IoT Jobs") {
		t.Fatalf("deployment %s: %s; want ROLLED_BACK saying it was canceled", end.State, end.Reason)
	}
	testutil.Eventually(t, "com.example.App 1.0.0 RUNNING after the rollback", func() error {
		if now, _ := d.sup.Status("com.example.App"); now.Version != "1.0.0" || now.State != lifecycle.StateRunning {
			return fmt.Errorf("it is %s %s", now.Version, now.State)
		}
		return nil
	})
	if err := d.engine.Cancel(st.DeploymentID, "again"); !errors.Is(err, ErrNotCancelable) {
		t.Errorf("Cancel of an ended deployment = %v, want ErrNotCancelable", err)
	}
}

func TestAQueuedDeploymentCanceledBeforeItStartsNeverRuns(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "v1", 0)
	doc := ddoc.New("sensors")
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0"}
	blocker, queued := d.submitBehindBlocker(dir, doc)
	if err := d.engine.Cancel(queued[0].DeploymentID, "the job was canceled in IoT Jobs"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if st, err := d.engine.Wait(ctx, blocker.DeploymentID); err != nil || st.State != ddoc.Succeeded {
		t.Fatalf("the blocker: %v %+v", err, st)
	}
	end, err := d.engine.Wait(ctx, queued[0].DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	if end.State != ddoc.Canceled || !strings.Contains(end.Reason, "canceled before it started") || !end.StartedAt.IsZero() {
		t.Fatalf("deployment %s (%s, started %v); want CANCELED before it started", end.State, end.Reason, end.StartedAt)
	}
	if _, ok := d.sup.Status("com.example.App"); ok {
		t.Error("the canceled deployment's component runs")
	}
}
