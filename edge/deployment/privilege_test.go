package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/lifecycle"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// brokerRecipe is shaped like the public EMQX recipe: RequiresPrivilege and
// Timeout are recipe variables read from configuration.
const brokerRecipe = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Broker
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration:
    requiresPrivilege: 'false'
    installTimeout: 30
Manifests:
  - Lifecycle:
      Install:
        Script: 'true'
        Timeout: '{configuration:/installTimeout}'
      Run:
        Script: exec sleep 300
        RequiresPrivilege: '{configuration:/requiresPrivilege}'
`

// warnings collects the messages and attributes of WARN records.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, b.String())
	return nil
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.list, "\n")
}

// built returns the named component as the engine hands the running set to
// the supervisor (as at a restart: configuration read from the store).
func (d *device) built(name string) lifecycle.Component {
	d.t.Helper()
	d.engine.mu.Lock()
	cur := d.engine.current
	d.engine.mu.Unlock()
	comps, _, err := d.engine.build(context.Background(), cur, nil)
	if err != nil {
		d.t.Fatalf("build: %v", err)
	}
	for _, c := range comps {
		if c.Name == name {
			return c
		}
	}
	d.t.Fatalf("%s is not in the running set", name)
	return lifecycle.Component{}
}

func merge(values map[string]any) *ddoc.Document {
	doc := local(nil)
	doc.Components["com.example.Broker"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: values}}
	return doc
}

func TestRequiresPrivilegeAndTimeoutComeFromDeploymentsNeverFromTheComponentsOwnWrites(t *testing.T) {
	warned := &warnings{}
	d := newDeviceWith(t, func(o *Options) { o.Logger = slog.New(warned) })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broker.yaml"), []byte(brokerRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	const name = "com.example.Broker"
	check := func(when string, privileged bool, timeout time.Duration) {
		t.Helper()
		c := d.built(name)
		if c.Lifecycle.Run.RequiresPrivilege != privileged || c.Lifecycle.Install.Timeout != timeout {
			t.Fatalf("%s: Run.RequiresPrivilege %t, Install.Timeout %v; want %t, %v",
				when, c.Lifecycle.Run.RequiresPrivilege, c.Lifecycle.Install.Timeout, privileged, timeout)
		}
	}

	if st := d.deploy(dir, local(map[string]string{name: "1.0.0"})); st.State != ddoc.Succeeded {
		t.Fatalf("first deployment %s: %s", st.State, st.Reason)
	}
	check("with the recipe's defaults", false, 30*time.Second)

	if st := d.deploy("", merge(map[string]any{"requiresPrivilege": true, "installTimeout": 45})); st.State != ddoc.Succeeded {
		t.Fatalf("merge deployment %s: %s", st.State, st.Reason)
	}
	check("after a deployment merged requiresPrivilege true", true, 45*time.Second)

	if st := d.deploy("", merge(map[string]any{"requiresPrivilege": false})); st.State != ddoc.Succeeded {
		t.Fatalf("merge deployment %s: %s", st.State, st.Reason)
	}
	// What IPC UpdateConfiguration does: the component writes its own
	// configuration in the store.
	ctx := context.Background()
	live, rev, err := d.cfg.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	live["requiresPrivilege"], live["installTimeout"] = true, float64(3600)
	if _, err := d.cfg.Put(ctx, name, live, rev); err != nil {
		t.Fatal(err)
	}
	check("after the component wrote requiresPrivilege true about itself", false, 45*time.Second)
	if st := d.deploy("", merge(map[string]any{"unrelated": 1})); st.State != ddoc.Succeeded {
		t.Fatalf("unrelated deployment %s: %s", st.State, st.Reason)
	}
	check("after a later deployment kept the component's own write", false, 45*time.Second)
	if got, _, _ := d.cfg.Get(ctx, name); got["requiresPrivilege"] != true {
		t.Fatalf("the component's own write is gone from its configuration: %v", got)
	}
	if w := warned.all(); !strings.Contains(w, "requiresPrivilege taken from the configuration deployments set") ||
		!strings.Contains(w, "component="+name) || !strings.Contains(w, "keys=[/requiresPrivilege]") || !strings.Contains(w, "liveConfigurationSays=true") {
		t.Fatalf("the overruled live value was not logged; warnings:\n%s", w)
	}

	st := d.deploy("", merge(map[string]any{"requiresPrivilege": "sometimes"}))
	want := `component com.example.Broker: Lifecycle.Run.RequiresPrivilege: "{configuration:/requiresPrivilege}" resolves to "sometimes"; set configuration key /requiresPrivilege to true or false`
	if st.State != ddoc.Failed || !strings.Contains(st.Reason, want) {
		t.Fatalf("deployment of a non-boolean requiresPrivilege: %s %q; want FAILED with %q", st.State, st.Reason, want)
	}
	check("after the failed deployment", false, 45*time.Second)
}

// injectRecipe interpolates its own configuration into a step that runs as
// root, in the Script and in the lifecycle and step Setenv.
const injectRecipe = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Inject
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration:
    message: hello
Manifests:
  - Lifecycle:
      Setenv:
        LIFECYCLE_MESSAGE: '{configuration:/message}'
      Install:
        RequiresPrivilege: true
        Script: echo {configuration:/message}
        Setenv:
          STEP_MESSAGE: '{configuration:/message}'
      Run:
        Script: echo {configuration:/message}; exec sleep 300
`

func TestPrivilegedStepsInterpolateOnlyTheConfigurationDeploymentsSet(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inject.yaml"), []byte(injectRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	const name, injected = "com.example.Inject", "x; id > /tmp/p; echo"
	if st := d.deploy(dir, local(map[string]string{name: "1.0.0"})); st.State != ddoc.Succeeded {
		t.Fatalf("first deployment %s: %s", st.State, st.Reason)
	}
	// What IPC UpdateConfiguration does: the component writes its own
	// configuration in the store.
	ctx := context.Background()
	live, rev, err := d.cfg.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	live["message"] = injected
	if _, err := d.cfg.Put(ctx, name, live, rev); err != nil {
		t.Fatal(err)
	}
	unrelated := local(nil)
	unrelated.Components[name] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"unrelated": 1}}}
	if st := d.deploy("", unrelated); st.State != ddoc.Succeeded {
		t.Fatalf("unrelated deployment %s: %s", st.State, st.Reason)
	}

	c := d.built(name)
	install := c.Lifecycle.Install
	if install.Script != "echo hello" {
		t.Errorf("privileged Install script %q; want %q (the component's own write must not reach root)", install.Script, "echo hello")
	}
	for _, k := range []string{"LIFECYCLE_MESSAGE", "STEP_MESSAGE"} {
		if install.Setenv[k] != "hello" {
			t.Errorf("privileged Install Setenv %s=%q; want hello", k, install.Setenv[k])
		}
	}
	if want := "echo " + injected + "; exec sleep 300"; c.Lifecycle.Run.Script != want {
		t.Errorf("unprivileged Run script %q; want the live configuration %q", c.Lifecycle.Run.Script, want)
	}
	if c.Lifecycle.Setenv["LIFECYCLE_MESSAGE"] != injected {
		t.Errorf("lifecycle Setenv for unprivileged steps %q; want the live configuration", c.Lifecycle.Setenv["LIFECYCLE_MESSAGE"])
	}
}
