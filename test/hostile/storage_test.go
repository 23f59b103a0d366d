package hostile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// mqttDial connects to the nucleus's MQTT listener; user "" is anonymous.
func mqttDial(t *testing.T, port int, id, user, pass string) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return c, fmt.Errorf("mqtt connect as %q timed out", id)
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(0) })
	}
	return c, tok.Error()
}

// nucleusWorks checks what the retained flood broke: shadows, streams and
// deployments. tag keeps names apart between calls.
func nucleusWorks(t *testing.T, n *harness.Nucleus, tag string) {
	t.Helper()
	must := func(args ...string) {
		t.Helper()
		if out, err := n.CLI(args...); err != nil {
			t.Fatalf("sward %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	must("shadow", "update", "--thing", "test-thing", "--name", tag, "--document", `{"state":{"reported":{"ok":true}}}`)
	must("stream", "create", "s-"+tag, "--strategy", "RejectNewData", "--max-size", "65536")
	must("stream", "append", "s-"+tag, "--data", "after the flood")
	recipes := harness.WriteRecipes(t, map[string]string{"c.yaml": fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.After%s
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: sleep 3600
`, tag)})
	must("deployment", "create", "-r", recipes, "-m", "com.example.After"+tag+"=1.0.0", "--wait")
}

// Finding 3: an anonymous loopback MQTT client filled the shared JetStream
// store with retained messages; shadows, streams and deployments failed,
// also after a restart.
func TestAnonymousRetainedFloodLeavesTheNucleusWorking(t *testing.T) {
	n := harness.Start(t, "", "")
	flood, err := mqttDial(t, n.MQTTPort, "flood", "", "")
	if err != nil {
		t.Fatalf("anonymous MQTT connect: %v", err)
	}
	big := strings.Repeat("x", 950_000) // the finding's messages: over the per-message bound
	for i := range 20 {
		flood.Publish(fmt.Sprintf("flood/big/%d", i), 1, true, big).WaitTimeout(10 * time.Second)
	}
	small := strings.Repeat("y", 100_000) // under it, until the total bound refuses them
	for i := range 400 {
		flood.Publish(fmt.Sprintf("flood/small/%d", i), 1, true, small).WaitTimeout(10 * time.Second)
	}

	js, err := jetstream.New(n.AdminConn())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rm, err := js.Stream(ctx, "$MQTT_rmsgs")
	if err != nil {
		t.Fatal(err)
	}
	info := rm.CachedInfo()
	if info.State.Bytes > broker.DefaultMQTTRetainedMaxBytes || info.State.Msgs == 0 {
		t.Fatalf("retained messages take %d bytes in %d messages: want some, at most %d", info.State.Bytes, info.State.Msgs, broker.DefaultMQTTRetainedMaxBytes)
	}
	if _, err := rm.GetLastMsgForSubject(ctx, "$MQTT.rmsgs.flood.big.0"); err == nil {
		t.Fatal("a 950 KB retained message was stored over the per-message bound")
	}
	if !strings.Contains(n.Output(), "unable to store retained message") || !strings.Contains(n.Output(), `"retained_max_bytes":33554432`) {
		t.Fatal("the refused retained messages left no log line naming the client and the bounds")
	}
	nucleusWorks(t, n, "1")

	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("the nucleus did not stop")
	}
	n = harness.StartAt(t, n.Root, "", "")
	nucleusWorks(t, n, "2")
}

// Finding 6: an anonymous client reusing a component's predictable MQTT
// client id knocked it off the broker.
func TestAnonymousClientCannotTakeOverAComponentsMQTTClientID(t *testing.T) {
	// The component hands its broker credential to the test, which
	// connects with it as the component would (the sample SensorSimulator
	// uses the id "<thing>-<name with dashes>").
	recipes := harness.WriteRecipes(t, map[string]string{"owner.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Owner
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: printf '%s\n%s\n' "$SWARD_NATS_USER" "$SWARD_NATS_PASSWORD" > "$SWARD_WORK_PATH/cred" && exec sleep 3600
`})
	n := harness.Start(t, recipes, "")
	n.WaitState("com.example.Owner", 30*time.Second, "RUNNING")
	var cred []string
	harness.Eventually(t, 10*time.Second, "the component's credential", func() error {
		data, err := os.ReadFile(filepath.Join(n.Root, "work", "com.example.Owner", "cred"))
		cred = strings.Fields(string(data))
		if err == nil && len(cred) != 2 {
			err = fmt.Errorf("credential file holds %d fields", len(cred))
		}
		return err
	})
	owner, err := mqttDial(t, n.MQTTPort, "test-thing-com-example-Owner", cred[0], cred[1])
	if err != nil {
		t.Fatalf("the component connects with its own client id: %v", err)
	}
	for _, id := range []string{"test-thing-com-example-Owner", "com-example-Owner", "com-example-Owner-2"} {
		if _, err := mqttDial(t, n.MQTTPort, id, "", ""); err == nil {
			t.Errorf("an anonymous client connected with the component's client id %q", id)
		}
	}
	if !owner.IsConnectionOpen() {
		t.Fatal("the component was knocked off the broker")
	}
	if !strings.Contains(n.Output(), "its client id is reserved to another identity") {
		t.Fatal("the refusals left no log line")
	}
}

// Finding 12: a component with a stream grant "*" could delete or write
// the nucleus's own status stream.
func TestStreamGrantStarCannotWriteTheNucleusStatusStream(t *testing.T) {
	recipes := harness.WriteRecipes(t, map[string]string{"probe.yaml": harness.ProbeRecipe(t, "com.example.Streams", `
    checks:
      - {name: append-status, call: AppendMessage, body: {streamName: SwardExportStatus, payload: Zm9yZ2Vk}}
      - {name: update-status, call: UpdateMessageStream, body: {definition: {name: SwardExportStatus, maxSize: 1024, strategyOnFull: RejectNewData}}}
      - {name: delete-status, call: DeleteMessageStream, body: {streamName: SwardExportStatus}}
      - {name: describe-status, call: DescribeMessageStream, body: {streamName: SwardExportStatus}}
      - {name: create-own, call: CreateMessageStream, body: {definition: {name: Mine, maxSize: 65536, strategyOnFull: RejectNewData}}}
      - {name: append-own, call: AppendMessage, body: {streamName: Mine, payload: aGk=}}
    accessControl:
      sward.StreamManager:
        com.example:streams:1: {operations: ["*"], resources: ["*"]}`)})
	n := harness.Start(t, recipes, "")
	res := n.ProbeResults("com.example.Streams", 6)
	for _, name := range []string{"append-status", "update-status", "delete-status"} {
		if r := res[name]; r.OK || r.Code != "UnauthorizedError" || !strings.Contains(r.Message, "SwardExportStatus") {
			t.Errorf("%s: %+v, want UnauthorizedError naming the stream", name, r)
		}
	}
	for _, name := range []string{"describe-status", "create-own", "append-own"} {
		if r := res[name]; !r.OK {
			t.Errorf("%s: %+v, want allowed", name, r)
		}
	}
	if out, err := n.CLI("stream", "describe", "SwardExportStatus"); err != nil || !strings.Contains(out, "1048576") {
		t.Fatalf("the status stream after the attempts: %v\n%s", err, out)
	}
}

// Finding 11: after the disk was full, a stream that hit ENOSPC stayed
// unwritable after space returned, until a restart.
func TestAStreamThatHitDiskFullWorksAgainWhenSpaceReturns(t *testing.T) {
	disk := testutil.SmallDisk(t, 96<<20)
	n := harness.StartAt(t, filepath.Join(disk, "root"), "", "")
	pid := n.PID()
	if out, err := n.CLI("stream", "create", "data", "--strategy", "RejectNewData", "--max-size", "8388608"); err != nil {
		t.Fatalf("stream create: %v\n%s", err, out)
	}
	filler := testutil.FillDisk(t, disk)
	payload := strings.Repeat("z", 60_000)
	var failed string
	for i := 0; i < 200 && failed == ""; i++ {
		if out, err := n.CLI("stream", "append", "data", "--data", payload); err != nil {
			failed = out
		}
	}
	if failed == "" {
		t.Fatal("appends never failed on a full disk")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "an append succeeds once the disk has room", func() error {
		out, err := n.CLI("stream", "append", "data", "--data", "after")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if n.PID() != pid || !harness.Alive(pid) {
		t.Fatal("the nucleus restarted")
	}
	nucleusWorks(t, n, "disk")
}
