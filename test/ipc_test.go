package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/control"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

type probeEvent struct {
	Kind  string          `json:"kind"`
	Event json.RawMessage `json:"event"`
	At    int64           `json:"at"`
}

func probeEvents(t *testing.T, n *harness.Nucleus, component string) []probeEvent {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(n.Root, "work", component, "events.jsonl"))
	var out []probeEvent
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e probeEvent
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func countEvents(evs []probeEvent, kind string) int {
	k := 0
	for _, e := range evs {
		if e.Kind == kind {
			k++
		}
	}
	return k
}

// want is an expected outcome: ok, or refused with code.
type want struct {
	ok   bool
	code string
}

var allowed = want{ok: true}

func refused(code string) want { return want{code: code} }

const violation = "PermissionViolation"

func checkMatrix(t *testing.T, component string, got map[string]harness.ProbeResult, wants map[string]want) {
	t.Helper()
	for name, w := range wants {
		r, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: check %q did not run", component, name)
		case w.ok && !r.OK:
			t.Errorf("%s: %s was refused (%s: %s), want allowed", component, name, r.Code, r.Message)
		case !w.ok && (r.OK || r.Code != w.code):
			t.Errorf("%s: %s = ok %v code %q (%s), want refused with %s", component, name, r.OK, r.Code, r.Message, w.code)
		}
	}
}

const recipeA = `    color: blue
    settings: {shade: light}
    checks:
      - {name: pub-own-topic, pub: a.out.x}
      - {name: pub-ungranted-topic, pub: b.out.x}
      - {name: sub-granted, sub: b.out.*}
      - {name: sub-ungranted, sub: a.out.>}
      - {name: impersonate-longer-name, pub: sward.ipc.com.example.Foo.GetConfiguration}
      - {name: read-other-events, sub: sward.event.com.example.Foo.ConfigurationUpdate}
      - {name: read-other-inboxes, sub: _SWARD_INBOX.>}
      - {name: control-api, pub: sward.control.component.list}
      - {name: jetstream-api, pub: $JS.API.INFO}
      - {name: own-config, call: GetConfiguration, body: {keyPath: [color]}}
      - {name: other-config, call: GetConfiguration, body: {componentName: com.example.Foo}}
      - {name: missing-key, call: GetConfiguration, body: {keyPath: [nope]}}
      - {name: update-own, call: UpdateConfiguration, body: {keyPath: [settings], valueToMerge: {shade: dark}, timestamp: 2000}}
      - {name: update-stale, call: UpdateConfiguration, body: {keyPath: [settings], valueToMerge: {shade: pale}, timestamp: 1000}}
      - {name: update-acl, call: UpdateConfiguration, body: {keyPath: [accessControl], valueToMerge: {x: 1}}}
      - {name: update-acl-null, call: UpdateConfiguration, body: {valueToMerge: {accessControl: null}}}
      - {name: update-too-deep, call: UpdateConfiguration, body: {keyPath: [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15, k16, k17, k18, k19, k20, k21, k22, k23, k24, k25, k26, k27, k28, k29, k30, k31, k32], valueToMerge: {x: 1}}}
      - {name: report-unasked, call: SendConfigurationValidityReport, body: {configurationValidityReport: {status: ACCEPTED, deploymentId: nope}}}
      - {name: defer-too-long, call: DeferComponentUpdate, body: {deploymentId: nope, recheckAfterMs: 999999999999}}
      - {name: details-granted, call: GetComponentDetails, body: {componentName: com.example.Foo}}
      - {name: stop-ungranted, call: StopComponent, body: {componentName: com.example.Foo}}
      - {name: list-granted, call: ListComponents}
      - {name: metric, call: PutComponentMetric, body: {metrics: [{name: probe_checks, unit: COUNT, value: 42}]}}
      - {name: metric-bad-unit, call: PutComponentMetric, body: {metrics: [{name: x, unit: PARSECS, value: 1}]}}
      - {name: shadow-ungranted, call: GetThingShadow, body: {thingName: other-thing}}
      - {name: shadow-update, call: UpdateThingShadow, body: {thingName: test-thing, payload: {state: {reported: {temp: 21}}}}}
      - {name: shadow-get, call: GetThingShadow, body: {thingName: test-thing}}
      - {name: shadow-named-ungranted, call: GetThingShadow, body: {thingName: test-thing, shadowName: secret}}
      - {name: shadow-bad-document, call: UpdateThingShadow, body: {thingName: test-thing, payload: {nostate: 1}}}
      - {name: shadow-topic-granted, pub: $aws.things.test-thing.shadow.get}
      - {name: shadow-topic-ungranted, pub: $aws.things.other-thing.shadow.get}
      - {name: malformed-json, call: GetConfiguration, raw: "{not json"}
      - {name: wrong-type, call: GetConfiguration, body: {keyPath: color}}
      - {name: unknown-field, call: GetConfiguration, body: {bogus: 1}}
      - {name: unknown-operation, call: FlyToTheMoon}
      - {name: nucleus-replies-to-jetstream, pub: sward.ipc.com.example.SubscribeToComponentUpdates, reply: $JS.API.STREAM.DELETE.KV_sward_config}
    accessControl:
      aws.greengrass.ipc.pubsub:
        com.example:pubsub:1: {operations: ["aws.greengrass#PublishToTopic"], resources: ["a/out/#"]}
        com.example:pubsub:2: {operations: ["aws.greengrass#SubscribeToTopic"], resources: ["b/out/+"]}
      aws.greengrass.Cli:
        com.example:cli:1: {operations: ["aws.greengrass#GetComponentDetails"], resources: [com.example.Foo]}
        com.example:cli:2: {operations: ["aws.greengrass#ListComponents"], resources: ["*"]}
      aws.greengrass.ipc.componentmetric:
        com.example:metrics:1: {operations: ["aws.greengrass#PutComponentMetric"], resources: ["*"]}
      aws.greengrass.ShadowManager:
        com.example:shadow:1: {operations: ["aws.greengrass#GetThingShadow", "aws.greengrass#UpdateThingShadow"], resources: [$aws/things/test-thing/shadow]}`

var wantA = map[string]want{
	"pub-own-topic": allowed, "pub-ungranted-topic": refused(violation),
	"sub-granted": allowed, "sub-ungranted": refused(violation),
	"impersonate-longer-name": refused(violation), "read-other-events": refused(violation),
	"read-other-inboxes": refused(violation), "control-api": refused(violation), "jetstream-api": refused(violation),
	"own-config": allowed, "other-config": allowed, "missing-key": refused("ResourceNotFoundError"),
	"update-own": allowed, "update-stale": refused("FailedUpdateConditionCheckError"),
	"update-acl": refused("UnauthorizedError"), "update-acl-null": refused("UnauthorizedError"),
	"update-too-deep": refused("InvalidArgumentsError"), "report-unasked": refused("ResourceNotFoundError"),
	"defer-too-long": refused("InvalidArgumentsError"), "details-granted": allowed, "stop-ungranted": refused("UnauthorizedError"),
	"list-granted": allowed, "metric": allowed, "metric-bad-unit": refused("InvalidArgumentsError"),
	"shadow-ungranted": refused("UnauthorizedError"), "shadow-update": allowed, "shadow-get": allowed,
	"shadow-named-ungranted": refused("UnauthorizedError"), "shadow-bad-document": refused("InvalidArgumentsError"),
	"shadow-topic-granted": allowed, "shadow-topic-ungranted": refused(violation),
	"malformed-json": refused("InvalidArgumentsError"), "wrong-type": refused("InvalidArgumentsError"),
	"unknown-field": refused("InvalidArgumentsError"), "unknown-operation": refused("UnsupportedOperationError"),
	"nucleus-replies-to-jetstream": allowed, // the publish goes through; the nucleus must not answer there
}

// recipeB grants with bare operation names (Sward's older form), which
// still work beside Greengrass's "aws.greengrass#Op".
const recipeB = `    validate: true
    checks:
      - {name: impersonate-shorter-name, pub: sward.ipc.com.example.GetConfiguration}
      - {name: pub-own-topic, pub: b.out.y}
      - {name: pub-ungranted-topic, pub: a.out.y}
      - {name: sub-granted, sub: a.>}
      - {name: list-ungranted, call: ListComponents}
      - {name: report-running, call: UpdateState, body: {state: RUNNING}}
      - {name: report-nonsense, call: UpdateState, body: {state: SLEEPY}}
    accessControl:
      aws.greengrass.ipc.pubsub:
        com.example.Foo:pubsub:1: {operations: [PublishToTopic], resources: ["b/out/#"]}
        com.example.Foo:pubsub:2: {operations: [SubscribeToTopic], resources: ["a/#"]}`

var wantB = map[string]want{
	"impersonate-shorter-name": refused(violation), "pub-own-topic": allowed, "pub-ungranted-topic": refused(violation),
	"sub-granted": allowed, "list-ungranted": refused("UnauthorizedError"), "report-running": allowed,
	"report-nonsense": refused("InvalidArgumentsError"),
}

const recipeWild = `    checks:
      - {name: pub-anything, pub: anything.at.all}
      - {name: sub-anything, sub: anything.>}
      - {name: impersonate, pub: sward.ipc.com.example.GetConfiguration}
      - {name: read-other-events, sub: sward.event.com.example.>}
      - {name: read-nucleus-inbox, sub: _INBOX.>}
      - {name: kv-api, pub: $KV.sward_config.x}
      - {name: own-events, sub: sward.event.com.example.Wild.ConfigurationUpdate}
      - {name: own-config, call: GetConfiguration}
      - {name: response-permission-bypass, via: anything.bounce, pub: sward.ipc.com.example.GetConfiguration}
    accessControl:
      aws.greengrass.ipc.pubsub:
        com.example.Wild:pubsub:1: {operations: ["*"], resources: ["*"]}`

var wantWild = map[string]want{
	"pub-anything": allowed, "sub-anything": allowed, "impersonate": refused(violation),
	"read-other-events": refused(violation), "read-nucleus-inbox": refused(violation), "kv-api": refused(violation),
	"own-events": allowed, "own-config": allowed,
	// A message received with a forbidden reply subject grants nothing, and
	// the nucleus never answers on a subject that is not the caller's inbox.
	"response-permission-bypass": refused(violation),
}

func TestIPCAccessControlMatrixWithRealComponents(t *testing.T) {
	dir := harness.WriteRecipes(t, map[string]string{
		"a.yaml":       harness.ProbeRecipeIn(t, "com.example", "Run", recipeA),
		"b.yaml":       harness.ProbeRecipeIn(t, "com.example.Foo", "Run", recipeB),
		"wild.yaml":    harness.ProbeRecipeIn(t, "com.example.Wild", "Run", recipeWild),
		"starter.yaml": harness.ProbeRecipeIn(t, "com.example.Starter", "Startup", "    checks: []"),
	})
	n := harness.Start(t, dir, "")

	checkMatrix(t, "com.example", n.ProbeResults("com.example", 1), wantA)
	checkMatrix(t, "com.example.Foo", n.ProbeResults("com.example.Foo", 1), wantB)
	checkMatrix(t, "com.example.Wild", n.ProbeResults("com.example.Wild", 1), wantWild)

	t.Run("a Startup component reports RUNNING through UpdateState", func(t *testing.T) {
		st := n.WaitState("com.example.Starter", 20*time.Second, "RUNNING")
		if st.Reason != "reported RUNNING through UpdateState" {
			t.Errorf("reason = %q", st.Reason)
		}
	})
	t.Run("a reply subject naming the JetStream API did not make the nucleus delete the configuration bucket", func(t *testing.T) {
		if cfg := storedConfig(t, n, "com.example"); !strings.Contains(cfg, "accessControl") {
			t.Errorf("configuration of com.example = %s", cfg)
		}
		if !strings.Contains(n.Output(), "ipc reply subject refused") {
			t.Error("the refused reply subject was not logged")
		}
	})
	t.Run("the merged update is stored and the stale one left no trace", func(t *testing.T) {
		got := n.ProbeResults("com.example", 1)["other-config"]
		if !strings.Contains(string(got.Reply), `"componentName":"com.example.Foo"`) {
			t.Errorf("other-config reply = %s", got.Reply)
		}
		if cfg := storedConfig(t, n, "com.example"); !strings.Contains(cfg, `"shade":"dark"`) {
			t.Errorf("stored configuration = %s, want the update-own merge (shade dark)", cfg)
		}
	})
	t.Run("the shadow the component updated is the one the CLI reads", func(t *testing.T) {
		if got := n.ProbeResults("com.example", 1)["shadow-get"]; !strings.Contains(string(got.Reply), `"reported":{"temp":21}`) {
			t.Errorf("GetThingShadow reply = %s", got.Reply)
		}
		out, err := n.CLI("shadow", "get", "--thing", "test-thing")
		if err != nil || !strings.Contains(out, `"temp": 21`) && !strings.Contains(out, `"temp":21`) {
			t.Errorf("sward shadow get: %v\n%s", err, out)
		}
	})
	t.Run("denials are logged with component and subject", func(t *testing.T) {
		out := n.Output()
		for _, s := range []string{`"ipc request denied","service":"ipc","component":"com.example","operation":"StopComponent"`,
			`sward.ipc.com.example.Foo.GetConfiguration`} {
			if !strings.Contains(out, s) {
				t.Errorf("nucleus log lacks %s", s)
			}
		}
	})
	t.Run("component metrics are on /metrics", func(t *testing.T) {
		url := n.MetricsURL()
		if url == "" {
			t.Fatal("no metrics endpoint logged")
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, s := range []string{`sward_component_metric{component="com.example",name="probe_checks",unit="COUNT"} 42`,
			`sward_ipc_requests_total{code="UnauthorizedError",operation="StopComponent"} 1`, "go_goroutines"} {
			if !strings.Contains(string(body), s) {
				t.Errorf("/metrics lacks %s", s)
			}
		}
	})
	t.Run("bad requests did not harm the nucleus", func(t *testing.T) {
		for _, name := range []string{"com.example", "com.example.Foo", "com.example.Wild"} {
			n.WaitState(name, 5*time.Second, "RUNNING")
		}
	})
}

// storedConfig reads a component's configuration from the nucleus's KV
// bucket, as the admin.
func storedConfig(t *testing.T, n *harness.Nucleus, component string) string {
	t.Helper()
	js, err := jetstream.New(n.AdminConn())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), "sward_config")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), component)
	if err != nil {
		t.Fatalf("configuration of %s: %v", component, err)
	}
	return string(e.Value())
}

// startLocal starts a nucleus and deploys the recipes (name → YAML) as the
// LOCAL group, so later LOCAL deployments can change and remove them.
func startLocal(t *testing.T, recipes map[string]string) *harness.Nucleus {
	t.Helper()
	files := map[string]string{}
	args := []string{"deployment", "create", "--wait"}
	for name, text := range recipes {
		files[name+".yaml"] = text
		args = append(args, "--merge", name+"=1.0.0")
	}
	dir := harness.WriteRecipes(t, files)
	n := harness.Start(t, "", "")
	if out, err := n.CLI(append(args, "--recipeDir", dir)...); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	return n
}

// identity is what a probe wrote about its credential.
type identity struct{ User, Password, Inbox, URL string }

func readIdentity(t *testing.T, n *harness.Nucleus, component string) identity {
	t.Helper()
	var id identity
	data, err := os.ReadFile(filepath.Join(n.Root, "work", component, "identity.json"))
	if err == nil {
		err = json.Unmarshal(data, &id)
	}
	if err != nil {
		t.Fatalf("%s identity: %v", component, err)
	}
	return id
}

func dialAs(id identity) error {
	nc, err := nats.Connect(id.URL, nats.UserInfo(id.User, id.Password), nats.NoReconnect(), nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
	}
	return err
}

func TestComponentCredentialsRotateOnRestartAndAreRevokedOnRemoval(t *testing.T) {
	n := startLocal(t, map[string]string{
		"com.example":     harness.ProbeRecipeIn(t, "com.example", "Run", "    checks: []"),
		"com.example.Foo": harness.ProbeRecipeIn(t, "com.example.Foo", "Run", "    checks: []"),
	})
	n.ProbeResults("com.example", 0) // no checks: the file alone says the probe ran
	n.ProbeResults("com.example.Foo", 0)
	first := readIdentity(t, n, "com.example.Foo")
	if err := dialAs(first); err != nil {
		t.Fatalf("the running component's credential does not connect: %v", err)
	}
	admin, err := control.Dial(n.Root)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	if out, err := n.CLI("component", "restart", "com.example.Foo"); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	var second identity
	harness.Eventually(t, 20*time.Second, "a new credential after the restart", func() error {
		second = readIdentity(t, n, "com.example.Foo")
		if second.Password == first.Password {
			return errors.New("same password")
		}
		return nil
	})
	if err := dialAs(first); err == nil {
		t.Error("the credential of the stopped session still connects")
	}
	if err := dialAs(second); err != nil {
		t.Errorf("the new credential does not connect: %v", err)
	}
	if second.Inbox == first.Inbox {
		t.Error("the inbox prefix did not change with the session")
	}

	out, err := n.CLI("deployment", "create", "--remove", "com.example.Foo", "--wait")
	if err != nil {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	harness.Eventually(t, 10*time.Second, "the removed component's credential refused", func() error {
		if dialAs(second) == nil {
			return errors.New("still connects")
		}
		return nil
	})
	if evs := probeEvents(t, n, "com.example"); countEvents(evs, "disconnected") > 0 {
		t.Errorf("com.example was disconnected by another component's rotation or removal: %v", evs)
	}
	if _, err := admin.Components(context.Background()); err != nil {
		t.Errorf("admin connection broken after the reloads: %v", err)
	}
}

func TestDeploymentsNotifyComponentsHonourDeferralsAndFailOnARejectedConfiguration(t *testing.T) {
	n := startLocal(t, map[string]string{
		"com.example":          harness.ProbeRecipeIn(t, "com.example", "Run", "    checks: []\n    watchKeyPath: [settings]\n    deferTimes: 2\n    settings: {level: 1}"),
		"com.example.Foo":      harness.ProbeRecipeIn(t, "com.example.Foo", "Run", "    checks: []\n    validate: true\n    mode: calm"),
		"com.example.Stubborn": harness.ProbeRecipeIn(t, "com.example.Stubborn", "Run", "    checks: []\n    deferTimes: -1"),
	})
	for _, c := range []string{"com.example", "com.example.Foo", "com.example.Stubborn"} {
		n.ProbeResults(c, 0)
	}
	admin := n.Client()
	defer admin.Close()
	ctx := context.Background()

	deploy := func(update map[string]ddoc.ConfigurationUpdate, timeout int) ddoc.Status {
		t.Helper()
		doc := ddoc.New(ddoc.LocalGroup)
		for name, u := range update {
			doc.Components[name] = ddoc.Component{ConfigurationUpdate: u}
		}
		doc.Policies.ComponentUpdate.TimeoutSeconds = timeout
		st, err := admin.CreateDeployment(ctx, doc, "", "")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		st, err = admin.WaitDeployment(ctx, st.DeploymentID)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("deferrals are honoured until the policy timeout, then the deployment proceeds", func(t *testing.T) {
		start := time.Now()
		st := deploy(map[string]ddoc.ConfigurationUpdate{"com.example": {Merge: map[string]any{"settings": map[string]any{"level": 3.0}}}}, 2)
		took := time.Since(start)
		if st.State != ddoc.Succeeded {
			t.Fatalf("deployment %s: %s", st.State, st.Reason)
		}
		if took < 2*time.Second {
			t.Errorf("deployment took %s; the stubborn component's deferrals should hold it for the 2 s timeout", took)
		}
		a := probeEvents(t, n, "com.example")
		if got := countEvents(a, "preUpdate"); got != 3 {
			t.Errorf("com.example got %d pre-update events, want 3 (two deferrals, then go ahead)", got)
		}
		if countEvents(probeEvents(t, n, "com.example.Stubborn"), "preUpdate") < 3 {
			t.Error("the stubborn component was not asked again after its deferrals")
		}
		harness.Eventually(t, 10*time.Second, "post-update and configuration events", func() error {
			a = probeEvents(t, n, "com.example")
			if countEvents(a, "postUpdate") < 1 {
				return errors.New("no postUpdate event")
			}
			for _, e := range a {
				if e.Kind == "configurationUpdate" && strings.Contains(string(e.Event), `"keyPath":["settings","level"]`) {
					return nil
				}
			}
			return fmt.Errorf("no configurationUpdate for settings/level in %v", a)
		})
	})

	t.Run("a rejected configuration fails the deployment and changes nothing", func(t *testing.T) {
		st := deploy(map[string]ddoc.ConfigurationUpdate{"com.example.Foo": {Merge: map[string]any{"reject": true, "mode": "wild"}}}, 0)
		if st.State != ddoc.Failed || !strings.Contains(st.Reason, "com.example.Foo rejected its new configuration") {
			t.Fatalf("deployment = %s (%s), want FAILED naming the rejection", st.State, st.Reason)
		}
		c, err := admin.Component(ctx, "com.example.Foo")
		if err != nil || c.State != "RUNNING" {
			t.Fatalf("component after the rejected deployment: %+v %v", c, err)
		}
		if countEvents(probeEvents(t, n, "com.example.Foo"), "validate") != 1 {
			t.Error("com.example.Foo was not asked to validate exactly once")
		}
		if cfg := storedConfig(t, n, "com.example.Foo"); strings.Contains(cfg, "wild") || strings.Contains(cfg, "reject") {
			t.Errorf("the rejected configuration was applied: %s", cfg)
		}
	})
}

// typoPolicy is an accessControl whose one policy names an operation
// Greengrass does not have.
const typoPolicy = `    accessControl:
      aws.greengrass.ipc.pubsub:
        p1: {operations: ["aws.greengrass#PublishToTopik"], resources: ["a/#"]}`

func TestDeploymentRefusesAnAccessControlPolicyNamingAnUnknownOperation(t *testing.T) {
	wantSaid := []string{`component test.Writer: accessControl policy "p1" of aws.greengrass.ipc.pubsub names unknown operation "aws.greengrass#PublishToTopik"`,
		"use one of aws.greengrass#PublishToTopic, aws.greengrass#SubscribeToTopic"}
	n := harness.Start(t, "", "")
	bad := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults+"\n"+typoPolicy, "")})

	t.Run("sward recipe validate reports it", func(t *testing.T) {
		out, err := harness.RunCLI(t, "recipe", "validate", bad)
		if err == nil || !strings.Contains(out, "INVALID") {
			t.Fatalf("recipe validate passed a recipe with an unknown operation: %v\n%s", err, out)
		}
		for _, w := range wantSaid {
			if !strings.Contains(out, w) {
				t.Errorf("recipe validate does not say %q:\n%s", w, out)
			}
		}
	})
	t.Run("in DefaultConfiguration the deployment fails and starts nothing", func(t *testing.T) {
		_, out, err := deploy(t, n, "--recipeDir", bad, "--merge", "test.Writer=1.0.0", "--wait")
		if err == nil || !strings.Contains(out, "FAILED") {
			t.Fatalf("deployment of an unknown operation did not fail: %v\n%s", err, out)
		}
		for _, w := range wantSaid {
			if !strings.Contains(out, w) {
				t.Errorf("the failure does not say %q:\n%s", w, out)
			}
		}
		if comps, err := n.Client().Components(context.Background()); err != nil || len(comps) != 0 {
			t.Fatalf("a refused deployment started %+v (err %v)", comps, err)
		}
	})
	t.Run("in a configurationUpdate merge the deployment fails and the running configuration stays", func(t *testing.T) {
		good := harness.WriteRecipes(t, map[string]string{"writer.yaml": writerRecipe("1.0.0", writerDefaults, "")})
		deployOK(t, n, "--recipeDir", good, "--merge", "test.Writer=1.0.0")
		before := n.WaitState("test.Writer", 20*time.Second, "RUNNING")
		merge := `{"test.Writer":{"MERGE":{"accessControl":{"aws.greengrass.ipc.pubsub":{"p1":{"operations":["aws.greengrass#PublishToTopik"],"resources":["a/#"]}}}}}}`
		_, out, err := deploy(t, n, "--update-config", merge, "--wait")
		if err == nil || !strings.Contains(out, "FAILED") {
			t.Fatalf("a merge naming an unknown operation did not fail: %v\n%s", err, out)
		}
		for _, w := range wantSaid {
			if !strings.Contains(out, w) {
				t.Errorf("the failure does not say %q:\n%s", w, out)
			}
		}
		if cfg := storedConfig(t, n, "test.Writer"); strings.Contains(cfg, "accessControl") {
			t.Errorf("the refused merge was stored: %s", cfg)
		}
		if after := n.WaitState("test.Writer", 5*time.Second, "RUNNING"); after.PID != before.PID {
			t.Errorf("the refused deployment restarted test.Writer (pid %d → %d)", before.PID, after.PID)
		}
	})
}
