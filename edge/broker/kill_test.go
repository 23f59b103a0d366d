package broker

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/sward-iot/sward/internal/testutil"
)

// childStoreEnv, when set, makes the test binary a broker on that store
// instead of running tests: the kill -9 test needs a broker in a process
// it can kill. childMonitorEnv is its monitoring listener, where the test
// sees its connections.
const (
	childStoreEnv   = "SWARD_BROKER_TEST_CHILD_STORE"
	childMonitorEnv = "SWARD_BROKER_TEST_CHILD_MONITOR"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childStoreEnv); dir != "" {
		runChildBroker(dir, os.Getenv(childMonitorEnv))
		return
	}
	os.Exit(m.Run())
}

// runChildBroker serves a broker on dir, prints "mqtt <addr>" once ready,
// and runs until killed.
func runChildBroker(dir, monitor string) {
	o := DefaultOptions()
	o.NATSListen, o.MQTTListen, o.StoreDir, o.MonitorListen = "127.0.0.1:-1", "127.0.0.1:-1", dir, monitor
	o.Users = testUsers()
	o.Logger = slog.New(slog.DiscardHandler)
	b, err := New(o)
	if err == nil {
		err = b.Start()
	}
	if err == nil {
		err = b.Ready(waitTimeout)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("mqtt", b.MQTTAddr())
	select {}
}

// startChildBroker runs this test binary as a broker on dir, with its
// monitoring listener on monitor, and returns the process and its MQTT
// address.
func startChildBroker(t *testing.T, dir, monitor string) (*exec.Cmd, string) {
	t.Helper()
	child := testutil.StartChild(t, "", childStoreEnv+"="+dir, childMonitorEnv+"="+monitor) // TestMain serves the broker
	cmd, lines := child.Cmd, child.Lines
	line := testutil.Receive(t, lines, "the child broker's address")
	addr, ok := strings.CutPrefix(line, "mqtt ")
	if !ok {
		t.Fatalf("child broker said %q, want \"mqtt <addr>\"", line)
	}
	return cmd, addr
}

// A QoS 1 PUBACK means the message is in the $MQTT_msgs file stream,
// written to the operating system: a persistent session that was away
// gets every acknowledged message after the nucleus is killed with
// SIGKILL right after the last PUBACK and started again (docs/performance.md,
// "What a QoS1 PUBACK promises").
func TestQoS1MessagesAcknowledgedBeforeAKill9ReachAPersistentSessionAfterTheRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jetstream")
	monitor := freeLoopbackAddr(t)
	broker, addr := startChildBroker(t, dir, monitor)

	sub := mustMQTT(t, addr, mqttClient{id: "kill-sub", user: "sensor", pass: sensorPass, persistent: true})
	mqttSubscribe(t, sub, "a/kill", 1)
	sub.Disconnect(250)
	// Published once the broker has seen the subscriber go, the messages
	// wait for it in the stream: none is handed to its closing connection
	// (which would wait out the 30 s ack wait before redelivery).
	testutil.Eventually(t, "the subscriber's connection to close", func() error {
		return noMQTTConnection(monitor, "kill-sub")
	})

	const n = 50
	pub := mustMQTT(t, addr, mqttClient{id: "kill-pub", user: "sensor", pass: sensorPass})
	for i := range n {
		wait(t, pub.Publish("a/kill", 1, false, fmt.Sprint(i)), "publish") // each PUBACK received
	}
	if err := broker.Process.Kill(); err != nil { // SIGKILL, right after the last PUBACK
		t.Fatal(err)
	}
	_ = broker.Wait()

	_, addr = startChildBroker(t, dir, monitor)
	got := make(chan mqtt.Message, 2*n)
	mustMQTT(t, addr, mqttClient{id: "kill-sub", user: "sensor", pass: sensorPass, persistent: true,
		onMessage: func(_ mqtt.Client, m mqtt.Message) { got <- m }})
	seen := map[string]bool{}
	for len(seen) < n {
		m := testutil.Receive(t, got, fmt.Sprintf("acknowledged message %d of %d after the kill", len(seen)+1, n))
		if m.Topic() != "a/kill" || m.Qos() != 1 {
			t.Fatalf("got %q on %q at QoS %d, want a/kill at QoS 1", m.Payload(), m.Topic(), m.Qos())
		}
		seen[string(m.Payload())] = true // at least once: a duplicate is allowed
	}
}

// noMQTTConnection asks the monitoring endpoint whether MQTT client id is
// connected.
func noMQTTConnection(monitor, id string) error {
	resp, err := http.Get("http://" + monitor + "/connz?mqtt_client=" + url.QueryEscape(id))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var connz server.Connz
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		return err
	}
	if connz.NumConns != 0 {
		return fmt.Errorf("%s still has %d connections", id, connz.NumConns)
	}
	return nil
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
