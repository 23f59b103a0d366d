package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/store"
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

func logger() *slog.Logger {
	if os.Getenv("DEPLOYMENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newDevice(t *testing.T) *device {
	t.Helper()
	root := t.TempDir()
	b, err := broker.New(broker.Options{StoreDir: root, NATSListen: "127.0.0.1:-1",
		Users: []broker.User{{Name: "nucleus", Password: "secret"}}, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(); b.WaitForShutdown() })
	if err := b.Ready(waitTimeout); err != nil {
		t.Fatal(err)
	}
	nc, err := b.Connect("nucleus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(js, config.Options{Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := lifecycle.New(lifecycle.Options{WorkDir: filepath.Join(root, "work"), LogDir: filepath.Join(root, "logs"),
		StateDir: filepath.Join(root, "state"), Logger: logger(), StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		sup.Shutdown(ctx)
	})
	st := store.New(root)
	e, err := New(Options{JetStream: js, Store: st, Config: cfg, Supervisor: sup, Platform: recipe.HostPlatform(),
		WorkDir: filepath.Join(root, "work"), KernelRoot: root, ThingName: "test-thing", Timeout: 10 * time.Second, Logger: logger()})
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

func TestANewDeploymentToTheSameGroupSupersedesAQueuedOne(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.A", "1.0.0", "a", 0)
	writeRecipe(t, dir, "com.example.B", "1.0.0", "b", 0)
	writeRecipe(t, dir, "com.example.C", "1.0.0", "c", 0)
	// Three at once: the first runs, the second waits and is superseded by the third.
	first, _ := d.engine.Submit(Request{Document: local(map[string]string{"com.example.A": "1.0.0"}), RecipeDir: dir})
	second, _ := d.engine.Submit(Request{Document: local(map[string]string{"com.example.B": "1.0.0"})})
	third, _ := d.engine.Submit(Request{Document: local(map[string]string{"com.example.C": "1.0.0"})})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s3, _ := d.engine.Wait(ctx, third.DeploymentID)
	s2, _ := d.engine.Get(second.DeploymentID)
	s1, _ := d.engine.Get(first.DeploymentID)
	if s3.State != ddoc.Succeeded {
		t.Fatalf("latest deployment %s: %s", s3.State, s3.Reason)
	}
	if s1.State == ddoc.Superseded {
		// The first may still have been queued when the second arrived.
		return
	}
	if s2.State != ddoc.Superseded || !strings.Contains(s2.Reason, third.DeploymentID) {
		t.Fatalf("the queued deployment is %s (%s), want SUPERSEDED by %s", s2.State, s2.Reason, third.DeploymentID)
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
