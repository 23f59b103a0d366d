package test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// cloudProbe publishes to IoT Core and subscribes to its alerts under an
// aws.greengrass.ipc.mqttproxy policy that grants telemetry/# for
// publishing and alerts/+ for subscribing, and publishing under its own
// thing's name with {iot:thingName} (the nucleus interpolates component
// configuration, as Greengrass needs for that variable in policies).
const cloudProbe = `    iotCoreSubscribe: ["alerts/+"]
    checks:
      - {name: publish-granted, call: PublishToIoTCore, body: {topicName: telemetry/test-thing, qos: "1", payload: "eyJ0IjoyMX0="}}
      - {name: publish-ungranted, call: PublishToIoTCore, body: {topicName: commands/test-thing, qos: "1", payload: "eA=="}}
      - {name: subscribe-wider-than-granted, call: SubscribeToIoTCore, body: {topicName: "alerts/#", qos: "1"}}
      - {name: publish-qos2, call: PublishToIoTCore, body: {topicName: telemetry/test-thing, qos: "2"}}
      - {name: publish-own-thing, call: PublishToIoTCore, body: {topicName: things/test-thing/status, qos: "1", payload: "eA=="}}
      - {name: publish-other-thing, call: PublishToIoTCore, body: {topicName: things/other-thing/status, qos: "0", payload: "eA=="}}
    accessControl:
      aws.greengrass.ipc.mqttproxy:
        com.example.Cloud:mqttproxy:1: {operations: ["aws.greengrass#PublishToIoTCore"], resources: ["telemetry/#"]}
        com.example.Cloud:mqttproxy:2: {operations: ["aws.greengrass#SubscribeToIoTCore"], resources: ["alerts/+"]}
        com.example.Cloud:mqttproxy:3: {operations: ["aws.greengrass#PublishToIoTCore"], resources: ["things/{iot:thingName}/status"]}`

func TestAComponentPublishesToAndReceivesFromIoTCoreThroughARealNucleus(t *testing.T) {
	cloud := testutil.StartMosquitto(t, "test-thing")
	watch := newCloudWatcher(t, cloud)

	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
system:
  thingName: test-thing
  certificateFilePath: %s
  privateKeyPath: %s
  rootCaPath: %s
services:
  aws.greengrass.Nucleus:
    configuration:
      awsRegion: eu-north-1
      iotDataEndpoint: 127.0.0.1
      interpolateComponentConfiguration: true
      mqtt:
        port: %d
`, cloud.PKI.ClientCert, cloud.PKI.ClientKey, cloud.PKI.CAFile, cloud.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	recipes := harness.WriteRecipes(t, map[string]string{"cloud.yaml": harness.ProbeRecipe(t, "com.example.Cloud", cloudProbe)})
	n := harness.Start(t, recipes, "", "--config", config)

	checkMatrix(t, "com.example.Cloud", n.ProbeResults("com.example.Cloud", 6), map[string]want{
		"publish-granted": allowed, "publish-ungranted": refused("UnauthorizedError"),
		"subscribe-wider-than-granted": refused("UnauthorizedError"), "publish-qos2": refused("InvalidArgumentsError"),
		"publish-own-thing": allowed, "publish-other-thing": refused("UnauthorizedError"),
	})

	t.Run("the published messages reach IoT Core", func(t *testing.T) {
		harness.Eventually(t, 15*time.Second, "telemetry/test-thing and things/test-thing/status at the endpoint", func() error {
			if got := watch.payload("telemetry/test-thing"); got != `{"t":21}` {
				return fmt.Errorf("endpoint has %q on telemetry/test-thing", got)
			}
			if got := watch.payload("things/test-thing/status"); got != "x" {
				return fmt.Errorf("endpoint has %q on things/test-thing/status", got)
			}
			return nil
		})
	})

	t.Run("sward cloud status shows the link connected", func(t *testing.T) {
		var st control.CloudStatus
		harness.Eventually(t, 15*time.Second, "cloud status connected", func() error {
			out, err := n.CLI("cloud", "status", "-o", "json")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if !st.Configured || !st.Connected || st.SpoolMessages != 0 {
				return fmt.Errorf("status %s, want connected with the probe's messages delivered", out)
			}
			return nil
		})
		if st.Endpoint != fmt.Sprintf("127.0.0.1:%d", cloud.Port) || st.ConnectedSince.IsZero() || st.SpoolMessages != 0 {
			t.Errorf("status = %+v, want endpoint 127.0.0.1:%d, a connected-since time and an empty spool", st, cloud.Port)
		}
		out, err := n.CLI("cloud", "status")
		if err != nil || !strings.Contains(out, "connected since") || !strings.Contains(out, "0 messages") {
			t.Errorf("cloud status table: %v\n%s", err, out)
		}
	})

	t.Run("a message IoT Core delivers on a subscribed filter reaches the component", func(t *testing.T) {
		harness.Eventually(t, 15*time.Second, "the probe's iotCoreMessage event", func() error {
			for _, e := range probeEvents(t, n, "com.example.Cloud") {
				if e.Kind == "iotCoreMessage" && strings.Contains(string(e.Event), `"payload":"smoke"`) && strings.Contains(string(e.Event), `"topic":"alerts/kitchen"`) {
					return nil
				}
			}
			// Published until the subscription is there: the endpoint
			// keeps no message for a filter nobody subscribed yet.
			watch.publish(t, "alerts/kitchen", "smoke")
			return fmt.Errorf("no iotCoreMessage event yet: %v", probeEvents(t, n, "com.example.Cloud"))
		})
	})
}

func TestCloudStatusWithoutALinkSaysNotConfigured(t *testing.T) {
	n := harness.Start(t, "", "")
	out, err := n.CLI("cloud", "status")
	if err != nil || !strings.Contains(out, "not configured") {
		t.Errorf("cloud status without a link: %v\n%s", err, out)
	}
}

// cloudWatcher is a client of the IoT Core stand-in that keeps the last
// payload of every topic.
type cloudWatcher struct {
	client mqtt.Client
	mu     sync.Mutex
	last   map[string]string
}

func newCloudWatcher(t *testing.T, m *testutil.Mosquitto) *cloudWatcher {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(m.PKI.ClientCert, m.PKI.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(m.PKI.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	w := &cloudWatcher{last: map[string]string{}}
	w.client = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tls://127.0.0.1:%d", m.Port)).SetClientID("watcher").
		SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: pool}))
	if tok := w.client.Connect(); !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.client.Disconnect(0) })
	tok := w.client.Subscribe("#", 1, func(_ mqtt.Client, msg mqtt.Message) {
		w.mu.Lock()
		w.last[msg.Topic()] = string(msg.Payload())
		w.mu.Unlock()
	})
	if !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	return w
}

func (w *cloudWatcher) payload(topic string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[topic]
}

func (w *cloudWatcher) publish(t *testing.T, topic, payload string) {
	if tok := w.client.Publish(topic, 1, false, payload); !tok.WaitTimeout(testutil.WaitTimeout) || tok.Error() != nil {
		t.Errorf("watcher publish: %v", tok.Error())
	}
}
