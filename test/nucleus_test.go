package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/test/harness"
)

const sleeper = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Sleeper
ComponentVersion: "1.0.0"
Manifests:
  - Platform: {os: "*"}
    Lifecycle:
      Run: sleep 300
`

func TestSampleComponentsReachRunningOrFinished(t *testing.T) {
	n := harness.Start(t, filepath.Join(harness.RepoRoot(), "recipes"), harness.SampleArtifacts(t))
	c := n.Client()
	comps, err := c.Components(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(comps) < 5 {
		t.Fatalf("want the 5 sample components, the nucleus runs %d: %+v", len(comps), comps)
	}
	for _, comp := range comps {
		n.WaitState(comp.Name, 60*time.Second, "RUNNING", "FINISHED")
	}
	if got := n.WaitState("com.sward.samples.DeviceInfo", 30*time.Second, "FINISHED"); got.State != "FINISHED" {
		t.Fatalf("the one-shot DeviceInfo ended %s, want FINISHED", got.State)
	}

	t.Run("the detector keeps every reading in the SensorReadings stream", func(t *testing.T) {
		harness.Eventually(t, 20*time.Second, "readings in the stream", func() error {
			out, err := n.CLI("stream", "describe", "SensorReadings", "-o", "json")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			var info struct {
				StorageStatus struct {
					NewestSequenceNumber int64 `json:"newestSequenceNumber"`
				} `json:"storageStatus"`
			}
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if info.StorageStatus.NewestSequenceNumber < 3 {
				return fmt.Errorf("newest sequence %d", info.StorageStatus.NewestSequenceNumber)
			}
			return nil
		})
	})
	t.Run("without a cloud link the simulator and the recorder stay local and say so once", func(t *testing.T) {
		for _, c := range []string{"com.sward.samples.SensorSimulator", "com.sward.samples.AlertRecorder"} {
			harness.Eventually(t, 20*time.Second, c+" saying it has no link", func() error {
				log := componentLog(n, c)
				if got := strings.Count(log, "no AWS IoT Core link on this nucleus"); got != 1 {
					return fmt.Errorf("%d lines about the missing link, want 1:\n%s", got, log)
				}
				if strings.Contains(log, "cloud publish failed") || strings.Contains(log, "cannot subscribe to the cloud") {
					return fmt.Errorf("a missing link logged as a failure:\n%s", log)
				}
				return nil
			})
		}
	})
	t.Run("the Python component uses the IPC with nothing but the standard library", func(t *testing.T) {
		nc := n.AdminConn()
		sub, err := nc.SubscribeSync("sward.test-thing.health")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// A restart makes it report at once (then every 30 s).
		if out, err := n.CLI("component", "restart", "com.sward.samples.HealthReporter"); err != nil {
			t.Fatalf("restart: %v\n%s", err, out)
		}
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("no health record on sward/test-thing/health: %v", err)
		}
		var rec map[string]any
		if err := json.Unmarshal(m.Data, &rec); err != nil || rec["intervalSeconds"] != 30.0 {
			t.Errorf("health record %s: want intervalSeconds 30, read from its configuration over the IPC", m.Data)
		}
	})
}

func TestKilledComponentProcessIsRestarted(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{"sleeper.yaml": sleeper}), "")
	first := n.WaitState("test.Sleeper", 20*time.Second, "RUNNING")
	if first.PID == 0 {
		t.Fatalf("a RUNNING component reports no pid: %+v", first)
	}
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c := n.Client()
	harness.Eventually(t, 20*time.Second, "the killed component runs again under a new pid", func() error {
		comp, err := c.Component(context.Background(), "test.Sleeper")
		if err != nil {
			return err
		}
		if comp.State != "RUNNING" || comp.PID == first.PID || comp.PID == 0 || comp.Restarts < 1 {
			return fmt.Errorf("state %s pid %d restarts %d", comp.State, comp.PID, comp.Restarts)
		}
		return nil
	})
}

func TestComponentFailingThreeTimesIsBrokenAndRecoverRuns(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{"failing.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Failing
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: echo failing; exit 3
      Recover: echo recovered >> {work:path}/recover.log
`}), "", "--failure-handling-policy", "DO_NOTHING")
	got := n.WaitState("test.Failing", 40*time.Second, "BROKEN")
	if got.State != "BROKEN" {
		t.Fatalf("state %s, want BROKEN", got.State)
	}
	data, err := os.ReadFile(filepath.Join(got.WorkDir, "recover.log"))
	if err != nil {
		t.Fatalf("Recover never ran: %v", err)
	}
	if runs := strings.Count(string(data), "recovered"); runs < 2 {
		t.Fatalf("Recover ran %d times before BROKEN, want at least 2", runs)
	}
	// BROKEN stays BROKEN: nothing restarts it on its own.
	time.Sleep(500 * time.Millisecond) // a window in which a wrong restart would show
	if again := n.WaitState("test.Failing", time.Second, "BROKEN"); again.Restarts != got.Restarts {
		t.Fatalf("a BROKEN component was restarted: restarts %d then %d", got.Restarts, again.Restarts)
	}
	logs, err := n.CLI("logs", "get", "test.Failing")
	if err != nil || !strings.Contains(logs, "failing") {
		t.Fatalf("sward logs get shows the component's output: err %v, output:\n%s", err, logs)
	}
}

func TestInterruptStopsEveryComponentProcess(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{
		"forker.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Forker
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: sleep 1000 & echo $! > {work:path}/child.pid; echo $$ > {work:path}/main.pid; wait
`,
		"daemon.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Daemon
ComponentVersion: "1.0.0"
ComponentDependencies:
  test.Forker: {VersionRequirement: ">=1.0.0 <2.0.0"}
Manifests:
  - Lifecycle:
      Startup: (trap '' TERM; sleep 1000) > /dev/null 2>&1 & echo $! > {work:path}/daemon.pid
`}), "")
	forker := n.WaitState("test.Forker", 20*time.Second, "RUNNING")
	daemon := n.WaitState("test.Daemon", 20*time.Second, "RUNNING")
	var pids []int
	for _, f := range []string{filepath.Join(forker.WorkDir, "child.pid"), filepath.Join(forker.WorkDir, "main.pid"), filepath.Join(daemon.WorkDir, "daemon.pid")} {
		harness.Eventually(t, 10*time.Second, "pid file "+f, func() error {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				return err
			}
			pids = append(pids, pid)
			return nil
		})
	}
	for _, pid := range pids {
		if !harness.Alive(pid) {
			t.Fatalf("component process %d is not running before the interrupt", pid)
		}
	}
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("the nucleus did not exit within 40 s of SIGINT")
	}
	if err := n.ExitErr(); err != nil {
		t.Fatalf("the nucleus exited with %v after SIGINT, want a clean exit", err)
	}
	for _, pid := range pids {
		if harness.Alive(pid) {
			t.Errorf("process %d survived the nucleus's shutdown", pid)
		}
	}
	if _, err := os.Stat(control.CredentialPath(n.Root)); !os.IsNotExist(err) {
		t.Errorf("admin credential left behind after a clean shutdown: %v", err)
	}
}

func TestComponentListJSONHasNameVersionState(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{"sleeper.yaml": sleeper}), "")
	n.WaitState("test.Sleeper", 20*time.Second, "RUNNING")
	out, err := n.CLI("component", "list", "-o", "json")
	if err != nil {
		t.Fatalf("component list: %v\n%s", err, out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("component list -o json is not a JSON array: %v\n%s", err, out)
	}
	if len(list) != 1 || list[0]["name"] != "test.Sleeper" || list[0]["version"] != "1.0.0" || list[0]["state"] != "RUNNING" {
		t.Fatalf("component list -o json = %s", out)
	}
}

func TestRestartAndStopFromTheCLI(t *testing.T) {
	n := harness.Start(t, harness.WriteRecipes(t, map[string]string{"sleeper.yaml": sleeper}), "")
	first := n.WaitState("test.Sleeper", 20*time.Second, "RUNNING")
	if out, err := n.CLI("component", "restart", "-n", "test.Sleeper"); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	c := n.Client()
	harness.Eventually(t, 20*time.Second, "restarted under a new pid", func() error {
		comp, err := c.Component(context.Background(), "test.Sleeper")
		if err != nil {
			return err
		}
		if comp.State != "RUNNING" || comp.PID == first.PID {
			return fmt.Errorf("state %s pid %d", comp.State, comp.PID)
		}
		return nil
	})
	// The stop returns once the component has stopped, and says so.
	out, err := n.CLI("component", "stop", "--names", "test.Sleeper")
	if err != nil || !strings.HasPrefix(out, "test.Sleeper stop: FINISHED") {
		t.Fatalf("stop: %v, want it to print the state it ended in, FINISHED:\n%s", err, out)
	}
	if comp, err := c.Component(context.Background(), "test.Sleeper"); err != nil || comp.PID != 0 || comp.State != "FINISHED" {
		t.Fatalf("after stop: %+v, %v", comp, err)
	}
	out, err = n.CLI("component", "details", "no.such.Component")
	if err == nil || !strings.Contains(out, "no.such.Component") {
		t.Fatalf("details of an unknown component: err %v, output %s", err, out)
	}
}

func TestCLIWithoutANucleusSaysItIsNotRunning(t *testing.T) {
	root := t.TempDir()
	out, err := harness.RunCLI(t, "component", "list", "--root", root)
	if err == nil {
		t.Fatalf("component list without a nucleus succeeded: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(out, "not running") || !strings.Contains(out, root) {
		t.Fatalf("want one line saying the nucleus at %s is not running, got:\n%s", root, out)
	}
}

func TestInvalidRecipesAreARefusedDeploymentThatNamesTheFile(t *testing.T) {
	dir := harness.WriteRecipes(t, map[string]string{"bad.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Bad
ComponentVersion: "not-a-version"
Manifests:
  - Lifecycle:
      Run: sleep 1
`})
	n := harness.Start(t, dir, "")
	list, err := n.Client().Deployments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != "FAILED" || !strings.Contains(list[0].Reason, "bad.yaml") || !strings.Contains(list[0].Reason, "ComponentVersion") {
		t.Fatalf("want one FAILED deployment naming bad.yaml and ComponentVersion, got %+v", list)
	}
}

func TestSecondNucleusOnTheSameRootIsRefused(t *testing.T) {
	n := harness.Start(t, "", "")
	out, err := harness.RunCLI(t, "run", "--root", n.Root,
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)), "--mqtt-listen", "off")
	if err == nil || !strings.Contains(out, "another nucleus") || !strings.Contains(out, strconv.Itoa(n.PID())) {
		t.Fatalf("a second nucleus on the same root: err %v, output:\n%s", err, out)
	}
}

func TestNonLoopbackListenerWithoutTLSIsRefused(t *testing.T) {
	out, err := harness.RunCLI(t, "run", "--root", t.TempDir(), "--nats-listen", "0.0.0.0:4222", "--mqtt-listen", "off")
	if err == nil || !strings.Contains(out, "loopback") {
		t.Fatalf("a non-loopback listener without TLS: err %v, output:\n%s", err, out)
	}
}

func TestMQTTAndNATSReachEachOtherThroughTheNucleus(t *testing.T) {
	n := harness.Start(t, "", "")
	cred, err := control.ReadCredential(n.Root)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(cred.NATSURL, nats.UserInfo(cred.User, cred.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fromMQTT, err := nc.SubscribeSync("sensors.line1")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	received := make(chan string, 1)
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", n.MQTTPort)).SetClientID("test-sensor")
	mc := mqtt.NewClient(opts)
	if tok := mc.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("anonymous MQTT client on loopback: %v", tok.Error())
	}
	defer mc.Disconnect(100)
	if tok := mc.Subscribe("commands/line1", 1, func(_ mqtt.Client, m mqtt.Message) { received <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT subscribe: %v", tok.Error())
	}
	if tok := mc.Publish("sensors/line1", 1, false, `{"t":21.5}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT publish: %v", tok.Error())
	}
	msg, err := fromMQTT.NextMsg(10 * time.Second)
	if err != nil || string(msg.Data) != `{"t":21.5}` {
		t.Fatalf("NATS subscriber on sensors.line1 got %v, %v", msg, err)
	}
	if err := nc.Publish("commands.line1", []byte("stop")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-received:
		if got != "stop" {
			t.Fatalf("MQTT subscriber got %q, want stop", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a NATS publish on commands.line1 never reached the MQTT subscriber on commands/line1")
	}
}

func TestRecipeValidateChecksTheSampleRecipesForEveryTargetPlatform(t *testing.T) {
	for _, platform := range []string{"os=linux,architecture=aarch64", "os=linux,architecture=amd64"} {
		out, err := harness.RunCLI(t, "recipe", "validate", "--platform", platform, filepath.Join(harness.RepoRoot(), "recipes"))
		if err != nil {
			t.Fatalf("recipe validate recipes/ for %s: %v\n%s", platform, err, out)
		}
		if strings.Count(out, "ok ") < 4 {
			t.Fatalf("want 4 valid sample recipes for %s:\n%s", platform, out)
		}
	}
	bad := harness.WriteRecipes(t, map[string]string{"both.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Both
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Startup: "true"
      Run: "true"
`})
	out, err := harness.RunCLI(t, "recipe", "validate", bad)
	if err == nil {
		t.Fatalf("a recipe with both Startup and Run validated:\n%s", out)
	}
	if !strings.Contains(out, "INVALID") || !strings.Contains(out, "both.yaml") {
		t.Fatalf("the invalid recipe is not named:\n%s", out)
	}
}
