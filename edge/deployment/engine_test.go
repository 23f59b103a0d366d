package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/store"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// waitTimeout bounds every wait in these tests; generous for -race on a
// loaded machine, never reached when things work.
const waitTimeout = 30 * time.Second

// device is one nucleus's worth of real parts: broker with JetStream,
// configuration store, component store, supervisor and engine.
type device struct {
	t      *testing.T
	root   string
	engine *Engine
	sup    *lifecycle.Supervisor
	cfg    *config.Store
	store  *store.Store
}

func newDevice(t *testing.T) *device {
	t.Helper()
	return newDeviceWith(t, nil)
}

// newDeviceWith is newDevice with the engine's options changed by configure.
func newDeviceWith(t *testing.T, configure func(*Options)) *device {
	t.Helper()
	root := t.TempDir()
	log := testlog.New(t)
	b, err := broker.New(broker.Options{StoreDir: root, NATSListen: "127.0.0.1:-1",
		Users: []broker.User{{Name: "nucleus", Password: "secret"}}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "nucleus")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(js, config.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := lifecycle.New(lifecycle.Options{WorkDir: filepath.Join(root, "work"), LogDir: filepath.Join(root, "logs"),
		StateDir: filepath.Join(root, "state"), Logger: log, StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		sup.Shutdown(ctx)
	})
	st := store.New(root)
	opts := Options{JetStream: js, Store: st, Config: cfg, Supervisor: sup, Platform: recipe.HostPlatform(),
		WorkDir: filepath.Join(root, "work"), KernelRoot: root, ThingName: "test-thing", Timeout: 10 * time.Second, Logger: log}
	if configure != nil {
		configure(&opts)
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return &device{t: t, root: root, engine: e, sup: sup, cfg: cfg, store: st}
}

// component writes a recipe whose Run step records the configuration's
// "message" into its work folder, then sleeps (or exits with code fail).
func writeRecipe(t *testing.T, dir, name, version, message string, fail int, deps ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "RecipeFormatVersion: '2020-01-25'\nComponentName: %s\nComponentVersion: '%s'\n", name, version)
	fmt.Fprintf(&b, "ComponentConfiguration:\n  DefaultConfiguration:\n    message: %q\n    level: {n: 1}\n", message)
	if len(deps) > 0 {
		b.WriteString("ComponentDependencies:\n")
		for _, d := range deps {
			n, rng, _ := strings.Cut(d, " ")
			fmt.Fprintf(&b, "  %s:\n    VersionRequirement: %q\n", n, rng)
		}
	}
	run := "echo '{configuration:/message} {configuration:/level/n}' > {work:path}/seen.txt; exec sleep 300"
	if fail != 0 {
		run = fmt.Sprintf("exit %d", fail)
	}
	fmt.Fprintf(&b, "Manifests:\n  - Lifecycle:\n      Run: %q\n", run)
	if err := os.WriteFile(filepath.Join(dir, name+"-"+version+".yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *device) deploy(recipes string, doc *ddoc.Document) ddoc.Status {
	d.t.Helper()
	st, err := d.engine.Submit(Request{Document: doc, RecipeDir: recipes})
	if err != nil {
		d.t.Fatalf("Submit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err = d.engine.Wait(ctx, st.DeploymentID)
	if err != nil {
		d.t.Fatalf("Wait: %v", err)
	}
	return st
}

func (d *device) seen(name string) string {
	d.t.Helper()
	var out string
	deadline := time.Now().Add(waitTimeout)
	for {
		data, err := os.ReadFile(filepath.Join(d.root, "work", name, "seen.txt"))
		if err == nil && len(data) > 0 {
			out = strings.TrimSpace(string(data))
			return out
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s never wrote seen.txt", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func local(components map[string]string) *ddoc.Document {
	doc := ddoc.New(ddoc.LocalGroup)
	for n, v := range components {
		doc.Components[n] = ddoc.Component{Version: v}
	}
	return doc
}

func TestDeploymentResolvesStartsAndSucceeds(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "hello", 0, "com.example.Lib ^1.0.0")
	writeRecipe(t, dir, "com.example.Lib", "1.0.0", "lib", 0)
	writeRecipe(t, dir, "com.example.Lib", "1.2.0", "lib", 0)
	st := d.deploy(dir, local(map[string]string{"com.example.App": "1.0.0"}))
	if st.State != ddoc.Succeeded {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	lib, _ := d.sup.Status("com.example.Lib")
	if lib.Version != "1.2.0" || lib.State != lifecycle.StateRunning {
		t.Fatalf("dependency is %s %s, want 1.2.0 RUNNING", lib.Version, lib.State)
	}
	if len(st.Components) != 2 || st.Components[0].Name != "com.example.App" || st.Components[0].State != "RUNNING" {
		t.Fatalf("outcomes %+v", st.Components)
	}
	if got := d.seen("com.example.App"); got != "hello 1" {
		t.Fatalf("the component saw %q", got)
	}
}

func TestMergeAndResetFollowGreengrassAndRestartTheComponent(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "default", 0)
	d.deploy(dir, local(map[string]string{"com.example.App": "1.0.0"}))
	first, _ := d.sup.Status("com.example.App")

	doc := local(map[string]string{"com.example.App": "1.0.0"})
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{
		Merge: map[string]any{"message": "merged", "level": map[string]any{"n": 7}}}}
	os.Remove(filepath.Join(d.root, "work", "com.example.App", "seen.txt"))
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("merge deployment %s: %s", st.State, st.Reason)
	}
	if got := d.seen("com.example.App"); got != "merged 7" {
		t.Fatalf("after merge the component saw %q, want %q", got, "merged 7")
	}
	second, _ := d.sup.Status("com.example.App")
	if second.PID == first.PID {
		t.Fatal("a configuration change did not restart the component")
	}

	doc = local(nil)
	doc.Components["com.example.App"] = ddoc.Component{ConfigurationUpdate: ddoc.ConfigurationUpdate{
		Reset: []string{"/message"}, Merge: map[string]any{"level": map[string]any{"n": 9}}}}
	os.Remove(filepath.Join(d.root, "work", "com.example.App", "seen.txt"))
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("reset deployment %s: %s", st.State, st.Reason)
	}
	if got := d.seen("com.example.App"); got != "default 9" {
		t.Fatalf("after reset then merge the component saw %q, want %q", got, "default 9")
	}
}

func TestAConfigurationChangeNoStepInterpolatesKeepsTheComponentRunning(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "default", 0)
	d.deploy(dir, local(map[string]string{"com.example.App": "1.0.0"}))
	first, _ := d.sup.Status("com.example.App")

	doc := local(map[string]string{"com.example.App": "1.0.0"})
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{
		Merge: map[string]any{"unused": map[string]any{"threshold": 42.0}}}}
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("merge deployment %s: %s", st.State, st.Reason)
	}
	cfg, _, err := d.cfg.Get(context.Background(), "com.example.App")
	if err != nil || cfg["unused"] == nil {
		t.Fatalf("the merged configuration is not stored: %v %v", cfg, err)
	}
	second, _ := d.sup.Status("com.example.App")
	if second.PID != first.PID || second.State != lifecycle.StateRunning {
		t.Fatalf("a change of a key no step interpolates restarted the component (pid %d → %d, %s); Greengrass keeps it running and sends configuration events",
			first.PID, second.PID, second.State)
	}
}

func TestBrokenComponentRollsBackToThePreviousVersionAndConfiguration(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "v1", 0)
	writeRecipe(t, dir, "com.example.App", "2.0.0", "v2", 3)
	doc := local(map[string]string{"com.example.App": "1.0.0"})
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"message": "tuned"}}}
	d.deploy(dir, doc)
	before, _, _ := d.cfg.Get(context.Background(), "com.example.App")

	doc = local(map[string]string{"com.example.App": "2.0.0"})
	doc.Components["com.example.App"] = ddoc.Component{Version: "2.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"message": "broken"}}}
	st := d.deploy("", doc)
	if st.State != ddoc.RolledBack || !strings.Contains(st.Reason, "com.example.App is BROKEN") {
		t.Fatalf("deployment %s: %s; want ROLLED_BACK naming the BROKEN component", st.State, st.Reason)
	}
	now, _ := d.sup.Status("com.example.App")
	if now.Version != "1.0.0" || now.State != lifecycle.StateRunning {
		t.Fatalf("after rollback the component is %s %s, want 1.0.0 RUNNING", now.Version, now.State)
	}
	after, _, _ := d.cfg.Get(context.Background(), "com.example.App")
	if after["message"] != "tuned" || revision(after, "") != revision(before, "") {
		t.Fatalf("configuration after rollback %v, want exactly %v", after, before)
	}
}

func TestDoNothingLeavesTheFailedDeploymentInPlace(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "v1", 0)
	writeRecipe(t, dir, "com.example.App", "2.0.0", "v2", 3)
	d.deploy(dir, local(map[string]string{"com.example.App": "1.0.0"}))
	doc := local(map[string]string{"com.example.App": "2.0.0"})
	doc.Policies.FailureHandling = ddoc.DoNothing
	st := d.deploy("", doc)
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "DO_NOTHING") {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	now, _ := d.sup.Status("com.example.App")
	if now.Version != "2.0.0" || now.State != lifecycle.StateBroken {
		t.Fatalf("component is %s %s, want 2.0.0 BROKEN left in place", now.Version, now.State)
	}
}

func TestConflictingRangesFailBeforeAnythingChanges(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.A", "1.0.0", "a", 0, "com.example.Lib ^1.0.0")
	writeRecipe(t, dir, "com.example.B", "1.0.0", "b", 0, "com.example.Lib ^2.0.0")
	writeRecipe(t, dir, "com.example.Lib", "1.0.0", "l", 0)
	writeRecipe(t, dir, "com.example.Lib", "2.0.0", "l", 0)
	d.deploy(dir, local(map[string]string{"com.example.A": "1.0.0"}))
	st := d.deploy("", local(map[string]string{"com.example.B": "1.0.0"}))
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "com.example.A 1.0.0 requires ^1.0.0") || !strings.Contains(st.Reason, "com.example.B 1.0.0 requires ^2.0.0") {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	if _, ok := d.sup.Status("com.example.B"); ok {
		t.Fatal("a refused deployment started a component")
	}
}

func TestDigestMismatchFailsAndTheRunningVersionIsUntouched(t *testing.T) {
	d := newDevice(t)
	recipes, artifacts := t.TempDir(), t.TempDir()
	good := []byte("#!/bin/sh\nexec sleep 300\n")
	sum := sha256.Sum256(good)
	text := fmt.Sprintf("RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.Tool\nComponentVersion: '%%s'\nManifests:\n  - Lifecycle:\n      Run: sh {artifacts:path}/tool.sh\n    Artifacts:\n      - URI: s3://b/tool.sh\n        Digest: %s\n", base64.StdEncoding.EncodeToString(sum[:]))
	for _, v := range []string{"1.0.0", "1.1.0"} {
		os.WriteFile(filepath.Join(recipes, v+".yaml"), []byte(fmt.Sprintf(text, v)), 0o644)
		os.MkdirAll(filepath.Join(artifacts, "com.example.Tool", v), 0o755)
	}
	os.WriteFile(filepath.Join(artifacts, "com.example.Tool", "1.0.0", "tool.sh"), good, 0o644)
	os.WriteFile(filepath.Join(artifacts, "com.example.Tool", "1.1.0", "tool.sh"), []byte("tampered"), 0o644)
	st, err := d.engine.Submit(Request{Document: local(map[string]string{"com.example.Tool": "1.0.0"}), RecipeDir: recipes, ArtifactDir: artifacts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if st, _ = d.engine.Wait(ctx, st.DeploymentID); st.State != ddoc.Succeeded {
		t.Fatalf("first deployment %s: %s", st.State, st.Reason)
	}
	st, _ = d.engine.Submit(Request{Document: local(map[string]string{"com.example.Tool": "1.1.0"}), ArtifactDir: artifacts})
	st, _ = d.engine.Wait(ctx, st.DeploymentID)
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "digest mismatch") {
		t.Fatalf("tampered deployment %s: %s", st.State, st.Reason)
	}
	now, _ := d.sup.Status("com.example.Tool")
	if now.Version != "1.0.0" || now.State != lifecycle.StateRunning {
		t.Fatalf("running component %s %s after a refused deployment", now.Version, now.State)
	}
}

// submitBehindBlocker deploys com.example.Blocker and, while that
// deployment is in progress, submits docs: they queue behind it.
func (d *device) submitBehindBlocker(recipes string, docs ...*ddoc.Document) (blocker ddoc.Status, queued []ddoc.Status) {
	d.t.Helper()
	writeRecipe(d.t, recipes, "com.example.Blocker", "1.0.0", "blocker", 0)
	blocker, err := d.engine.Submit(Request{Document: local(map[string]string{"com.example.Blocker": "1.0.0"}), RecipeDir: recipes})
	if err != nil {
		d.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// In progress until its component has been RUNNING for StableFor:
	// time enough to queue a handful of deployments behind it.
	if _, err := d.engine.waitFor(ctx, blocker.DeploymentID, func(st ddoc.Status) bool { return st.State != ddoc.Queued }); err != nil {
		d.t.Fatal(err)
	}
	for _, doc := range docs {
		st, err := d.engine.Submit(Request{Document: doc, RecipeDir: recipes})
		if err != nil {
			d.t.Fatal(err)
		}
		queued = append(queued, st)
	}
	if st, _ := d.engine.Get(blocker.DeploymentID); st.State != ddoc.InProgress {
		d.t.Fatalf("the blocking deployment is %s (%s) before the others were queued; they must queue behind it", st.State, st.Reason)
	}
	return blocker, queued
}

func TestQueuedLocalChangesAreAllAppliedTogetherInOrderAndEachReportsTheOutcome(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.A", "1.0.0", "a", 0)
	writeRecipe(t, dir, "com.example.B", "1.0.0", "b", 0)
	writeRecipe(t, dir, "com.example.C", "1.0.0", "c", 0)
	configA := func(u ddoc.ConfigurationUpdate) *ddoc.Document {
		doc := local(nil)
		doc.Components["com.example.A"] = ddoc.Component{ConfigurationUpdate: u}
		return doc
	}
	_, queued := d.submitBehindBlocker(dir,
		local(map[string]string{"com.example.A": "1.0.0"}),
		local(map[string]string{"com.example.B": "1.0.0"}),
		configA(ddoc.ConfigurationUpdate{Merge: map[string]any{"message": "first", "level": map[string]any{"n": 7}}}),
		local(map[string]string{"com.example.C": "1.0.0"}),
		// Reset before merge, after the change above: message back to its default, n from this merge.
		configA(ddoc.ConfigurationUpdate{Reset: []string{"/message"}, Merge: map[string]any{"level": map[string]any{"n": 9}}}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []string
	for _, q := range queued {
		ids = append(ids, q.DeploymentID)
		st, err := d.engine.Wait(ctx, q.DeploymentID)
		if err != nil || st.State != ddoc.Succeeded {
			t.Fatalf("queued deployment %s is %s (%s), %v; every queued LOCAL change must be applied", q.DeploymentID, st.State, st.Reason, err)
		}
	}
	head, _ := d.engine.Get(ids[0])
	if !slices.Equal(head.Carries, ids[1:]) {
		t.Errorf("the first queued deployment carries %v, want the others in queue order %v", head.Carries, ids[1:])
	}
	for _, id := range ids[1:] {
		if st, _ := d.engine.Get(id); st.CarriedBy != ids[0] || len(st.Components) == 0 {
			t.Errorf("deployment %s: carried by %q with outcomes %v, want carried by %s with its outcomes", id, st.CarriedBy, st.Components, ids[0])
		}
	}
	for _, name := range []string{"com.example.A", "com.example.B", "com.example.C", "com.example.Blocker"} {
		if st, _ := d.sup.Status(name); st.State != lifecycle.StateRunning {
			t.Errorf("%s is %s (%s), want RUNNING", name, st.State, st.Reason)
		}
	}
	if got := d.seen("com.example.A"); got != "a 9" {
		t.Errorf("com.example.A saw %q, want %q: the configuration changes must apply in queue order", got, "a 9")
	}
}

func TestAQueuedLocalChangeThatCannotApplyFailsAloneAndTheOthersAreApplied(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.A", "1.0.0", "a", 0)
	writeRecipe(t, dir, "com.example.B", "1.0.0", "b", 0)
	orphan := local(nil)
	orphan.Components["com.example.NotDeployed"] = ddoc.Component{ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"x": 1}}}
	_, queued := d.submitBehindBlocker(dir,
		local(map[string]string{"com.example.A": "1.0.0"}), orphan, local(map[string]string{"com.example.B": "1.0.0"}))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	want := []ddoc.State{ddoc.Succeeded, ddoc.Failed, ddoc.Succeeded}
	for i, q := range queued {
		st, _ := d.engine.Wait(ctx, q.DeploymentID)
		if st.State != want[i] {
			t.Errorf("queued deployment %d is %s (%s), want %s", i, st.State, st.Reason, want[i])
		}
		if i == 1 && !strings.Contains(st.Reason, "com.example.NotDeployed, which no group deploys to this device") {
			t.Errorf("the refused change's reason %q does not name the component", st.Reason)
		}
	}
}

func TestAWholeGroupDocumentSupersedesAQueuedOneOfTheSameGroup(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.A", "1.0.0", "a", 0)
	writeRecipe(t, dir, "com.example.B", "1.0.0", "b", 0)
	folder := func(components map[string]string) *ddoc.Document {
		doc := ddoc.New("LOCAL_FOLDER")
		for n, v := range components {
			doc.Components[n] = ddoc.Component{Version: v}
		}
		return doc
	}
	_, queued := d.submitBehindBlocker(dir,
		folder(map[string]string{"com.example.A": "1.0.0"}),
		folder(map[string]string{"com.example.A": "1.0.0", "com.example.B": "1.0.0"}))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	newer, _ := d.engine.Wait(ctx, queued[1].DeploymentID)
	older, _ := d.engine.Get(queued[0].DeploymentID)
	if newer.State != ddoc.Succeeded {
		t.Fatalf("the newer whole-group deployment is %s: %s", newer.State, newer.Reason)
	}
	if older.State != ddoc.Superseded || !strings.Contains(older.Reason, queued[1].DeploymentID) {
		t.Fatalf("the queued whole-group deployment is %s (%s), want SUPERSEDED by %s", older.State, older.Reason, queued[1].DeploymentID)
	}
}

func TestUnusedVersionsAreCollectedAndThePreviousIsKept(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		writeRecipe(t, dir, "com.example.App", v, v, 0)
	}
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		if st := d.deploy(dir, local(map[string]string{"com.example.App": v})); st.State != ddoc.Succeeded {
			t.Fatalf("deploy %s: %s %s", v, st.State, st.Reason)
		}
	}
	for v, want := range map[string]bool{"1.0.0": false, "2.0.0": true, "3.0.0": true} {
		if got := d.store.Installed("com.example.App", v); got != want {
			t.Errorf("version %s in the store: %v, want %v", v, got, want)
		}
	}
}

func TestRunWithPosixUserIsCheckedAndApplied(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "m", 0)
	doc := local(nil)
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", RunWith: ddoc.RunWith{PosixUser: "no-such-user-here"}}
	st := d.deploy(dir, doc)
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "runWith.posixUser") || !strings.Contains(st.Reason, "no-such-user-here") {
		t.Fatalf("deployment with an unknown posixUser: %s %s", st.State, st.Reason)
	}
	if os.Geteuid() != 0 {
		return // switching users needs root; the check above holds for everyone
	}
	for _, dir := range []string{d.root, filepath.Dir(d.root)} { // nobody must reach its work folder
		os.Chmod(dir, 0o755)
	}
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", RunWith: ddoc.RunWith{PosixUser: "nobody"}}
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("deployment as nobody: %s %s", st.State, st.Reason)
	}
	st2, _ := d.sup.Status("com.example.App")
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st2.PID))
	if err != nil || !strings.Contains(string(data), "Uid:\t65534") {
		t.Fatalf("component process runs as %q, want uid 65534 (%v)", data, err)
	}
}

// goneRecipe is com.example.Gone, whose Uninstall waits a little, then
// writes its configuration and environment to {work:path}/uninstalled.txt
// if its artifacts are still installed, then runs tail.
func goneRecipe(t *testing.T, dir, tail string) {
	t.Helper()
	text := fmt.Sprintf(`RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Gone
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration: {farewell: bye}
Manifests:
  - Lifecycle:
      Run: exec sleep 300
      Uninstall: |
        sleep 0.3; test -d {artifacts:path} && echo "{configuration:/farewell} $SWARD_TEST_ENV" > {work:path}/uninstalled.txt%s
`, tail)
	if err := os.WriteFile(filepath.Join(dir, "gone.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRemovingAComponentRunsItsUninstallBeforeItsFilesAreCollected(t *testing.T) {
	for _, tc := range []struct {
		name, tail string
		rollback   bool
	}{
		{"removed by a deployment", "", false},
		{"removed by a deployment, Uninstall failing", "; exit 4", false},
		// The rollback collects the version it added right away.
		{"removed by a rollback", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDevice(t)
			dir := t.TempDir()
			goneRecipe(t, dir, tc.tail)
			writeRecipe(t, dir, "com.example.Broken", "1.0.0", "x", 3)
			d.engine.opts.Env = func(*recipe.Recipe) map[string]string { return map[string]string{"SWARD_TEST_ENV": "env"} }
			if tc.rollback {
				st := d.deploy(dir, local(map[string]string{"com.example.Gone": "1.0.0", "com.example.Broken": "1.0.0"}))
				if st.State != ddoc.RolledBack {
					t.Fatalf("deployment %s: %s; want ROLLED_BACK", st.State, st.Reason)
				}
				if d.store.Installed("com.example.Gone", "1.0.0") {
					t.Fatal("the rolled back component's version is still in the store")
				}
			} else {
				if st := d.deploy(dir, local(map[string]string{"com.example.Gone": "1.0.0"})); st.State != ddoc.Succeeded {
					t.Fatalf("deployment %s: %s", st.State, st.Reason)
				}
				remove := local(nil)
				remove.ComponentsToRemove = []string{"com.example.Gone"}
				if st := d.deploy("", remove); st.State != ddoc.Succeeded {
					t.Fatalf("removal %s: %s; an Uninstall step cannot fail a removal", st.State, st.Reason)
				}
			}
			if _, ok := d.sup.Status("com.example.Gone"); ok {
				t.Fatal("the removed component is still supervised after its deployment ended")
			}
			data, err := os.ReadFile(filepath.Join(d.root, "work", "com.example.Gone", "uninstalled.txt"))
			if got := strings.TrimSpace(string(data)); err != nil || got != "bye env" {
				t.Fatalf("Uninstall wrote %q (%v), want %q: it runs with the component's configuration and environment, while its artifacts are still installed", got, err, "bye env")
			}
		})
	}
}

func TestAChangedDefaultConfigurationUnderTheSameVersionIsKeptAndTheDeploymentSaysSo(t *testing.T) {
	d := newDevice(t)
	first, same, changed := t.TempDir(), t.TempDir(), t.TempDir()
	writeRecipe(t, first, "com.example.App", "1.0.0", "old", 0)
	writeRecipe(t, same, "com.example.App", "1.0.0", "old", 0)
	writeRecipe(t, changed, "com.example.App", "1.0.0", "new", 0)
	doc := func() *ddoc.Document { return local(map[string]string{"com.example.App": "1.0.0"}) }
	if st := d.deploy(first, doc()); st.State != ddoc.Succeeded || len(st.Warnings) > 0 {
		t.Fatalf("first deployment %s (%s), warnings %q", st.State, st.Reason, st.Warnings)
	}
	if st := d.deploy(same, doc()); len(st.Warnings) > 0 {
		t.Fatalf("the same recipe again warns %q", st.Warnings)
	}
	st := d.deploy(changed, doc())
	if st.State != ddoc.Succeeded {
		t.Fatalf("deployment %s: %s", st.State, st.Reason)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "component com.example.App 1.0.0") ||
		!strings.Contains(st.Warnings[0], "bump ComponentVersion") || !strings.Contains(st.Warnings[0], `"RESET":[""]`) {
		t.Fatalf("warnings %q, want one naming com.example.App 1.0.0 and telling to bump the version or RESET", st.Warnings)
	}
	cfg, _, _ := d.cfg.Get(context.Background(), "com.example.App")
	if cfg["message"] != "old" {
		t.Fatalf("configuration message is %v; the stored configuration must be kept (Greengrass behaviour)", cfg["message"])
	}
	// RESET takes the new defaults, and says nothing more.
	writeRecipe(t, changed, "com.example.App", "1.0.0", "newer", 0)
	reset := doc()
	reset.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Reset: []string{""}}}
	if st := d.deploy(changed, reset); st.State != ddoc.Succeeded || len(st.Warnings) > 0 {
		t.Fatalf("reset deployment %s (%s), warnings %q", st.State, st.Reason, st.Warnings)
	}
	if cfg, _, _ := d.cfg.Get(context.Background(), "com.example.App"); cfg["message"] != "newer" {
		t.Fatalf("after RESET the configuration message is %v, want the new default", cfg["message"])
	}
}

func TestALocalConfigurationUpdateReachesAComponentAnotherGroupDeployed(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "folder", 0)
	folder := ddoc.New("LOCAL_FOLDER")
	folder.Components["com.example.App"] = ddoc.Component{Version: "1.0.0"}
	if st := d.deploy(dir, folder); st.State != ddoc.Succeeded {
		t.Fatalf("folder deployment %s: %s", st.State, st.Reason)
	}
	d.seen("com.example.App")

	doc := local(nil)
	doc.Components["com.example.App"] = ddoc.Component{ConfigurationUpdate: ddoc.ConfigurationUpdate{
		Merge: map[string]any{"message": "from the CLI"}}}
	os.Remove(filepath.Join(d.root, "work", "com.example.App", "seen.txt"))
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("configuration-only LOCAL deployment %s: %s", st.State, st.Reason)
	}
	if got := d.seen("com.example.App"); got != "from the CLI 1" {
		t.Fatalf("the component saw %q, want %q", got, "from the CLI 1")
	}
	d.engine.mu.Lock()
	groups := d.engine.current.Groups
	d.engine.mu.Unlock()
	if _, ok := groups[ddoc.LocalGroup]; ok || groups["LOCAL_FOLDER"]["com.example.App"] != "1.0.0" {
		t.Fatalf("groups after the update = %v, want the component in LOCAL_FOLDER only", groups)
	}

	missing := local(nil)
	missing.Components["com.example.Absent"] = ddoc.Component{ConfigurationUpdate: ddoc.ConfigurationUpdate{
		Merge: map[string]any{"x": 1}}}
	st := d.deploy("", missing)
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, "--merge com.example.Absent=VERSION") {
		t.Fatalf("configuration-only deployment of an absent component: %s %s, want FAILED naming --merge com.example.Absent=VERSION", st.State, st.Reason)
	}
}
