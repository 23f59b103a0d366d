package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/test/harness"
)

func mqttDial(port int, id, user, pass string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}

// startWithDevices starts a nucleus whose --devices file is text ("" for
// none: loopback clients are anonymous) and returns it with an admin
// subscription to everything published under sensors/.
func startWithDevices(t *testing.T, text string) (*harness.Nucleus, *nats.Subscription) {
	t.Helper()
	var args []string
	if text != "" {
		args = []string{"--devices", writeDevices(t, text)}
	}
	n := harness.Start(t, "", "", args...)
	admin := n.AdminConn()
	seen, err := admin.SubscribeSync("sensors.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	return n, seen
}

// writeDevices writes a --devices file and returns its path.
func writeDevices(t *testing.T, text string) string {
	t.Helper()
	devices := filepath.Join(t.TempDir(), "devices.yaml")
	if err := os.WriteFile(devices, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return devices
}

func TestClientDevicesLogInWithTheirOwnTopicPermissionsWhenTheDevicesFileRequiresIt(t *testing.T) {
	n, seen := startWithDevices(t, `
requireAuth: true
users:
  - name: sensor-7
    password: s3cret
    publish: ["sensors/sensor-7/#"]
    subscribe: ["commands/sensor-7/#"]
`)

	if c, err := mqttDial(n.MQTTPort, "anon", "", ""); err == nil {
		c.Disconnect(0)
		t.Error("an anonymous MQTT client connected although requireAuth is true")
	}
	if c, err := mqttDial(n.MQTTPort, "wrong", "sensor-7", "guess"); err == nil {
		c.Disconnect(0)
		t.Error("a wrong password connected")
	}
	c, err := mqttDial(n.MQTTPort, "sensor-7", "sensor-7", "s3cret")
	if err != nil {
		t.Fatalf("device with its password: %v", err)
	}
	defer c.Disconnect(0)
	c.Publish("sensors/other/temp", 0, false, "not mine").WaitTimeout(5 * time.Second)
	if tok := c.Publish("sensors/sensor-7/temp", 1, false, "21"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish on its own topic: %v", tok.Error())
	}
	m, err := seen.NextMsg(10 * time.Second)
	if err != nil || m.Subject != "sensors.sensor-7.temp" {
		t.Fatalf("first message seen = %v, %v; want only sensors.sensor-7.temp (sensors/other is not granted)", m, err)
	}
}

func TestABadDevicesFileStopsTheStartWithAnErrorNamingTheEntry(t *testing.T) {
	devices := writeDevices(t, "users:\n  - name: sensor-7\n    publish: [\"a/b*\"]\n  - name: sensor-8?x\n    password: p\n")
	out, err := harness.RunCLI(t, "run", "--root", t.TempDir(), "--devices", devices,
		"--nats-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--metrics-listen", "off")
	if err == nil {
		t.Fatal("the nucleus started with a bad devices file")
	}
	for _, want := range []string{"users[0] (sensor-7): password is missing", `publish topic "a/b*" cannot be a NATS subject`,
		`users[1]: name "sensor-8?x" contains "?"`} {
		if !strings.Contains(out, want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
}

// sdkUsernames are MQTT usernames the AWS IoT Device SDKs send when the
// application sets none: their metrics after a "?" (aws-c-mqtt's format for
// the CRT-based SDKs, then the Python and Java SDKs' older builders).
var sdkUsernames = []string{
	"?SDK=IoTDeviceSDK/JS&Platform=Linux&Metadata=(IoTSDKVersion=1.27.0;IoTSDKMetricsVersion=1)",
	"?SDK=IoTDeviceSDK/Python&Platform=Linux&Metadata=(IoTSDKVersion=1.24.0;IoTSDKMetricsVersion=1)",
	"?SDK=PythonV2&Version=1.22.0",
	"?SDK=JavaV2&Version=1.20.0",
}

func TestAWSIoTDeviceSDKClientsLogInAsTheUserBeforeTheMetricsQuery(t *testing.T) {
	n, seen := startWithDevices(t, `
requireAuth: true
users:
  - name: sensor-7
    password: s3cret
    publish: ["sensors/sensor-7/#"]
`)
	for i, metrics := range sdkUsernames {
		c, err := mqttDial(n.MQTTPort, fmt.Sprintf("sdk-%d", i), "sensor-7"+metrics, "s3cret")
		if err != nil {
			t.Fatalf("MQTT as sensor-7%s: %v", metrics, err)
		}
		if tok := c.Publish("sensors/sensor-7/temp", 1, false, "21"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish as sensor-7%s: %v", metrics, tok.Error())
		}
		if _, err := seen.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("the message of sensor-7%s did not arrive: %v", metrics, err)
		}
		c.Disconnect(0)
		if c, err := mqttDial(n.MQTTPort, fmt.Sprintf("sdk-guess-%d", i), "sensor-7"+metrics, "guess"); err == nil {
			c.Disconnect(0)
			t.Errorf("sensor-7%s logged in with a wrong password", metrics)
		}
		if c, err := mqttDial(n.MQTTPort, fmt.Sprintf("sdk-anon-%d", i), metrics, ""); err == nil {
			c.Disconnect(0)
			t.Errorf("%s logged in anonymously although requireAuth is true", metrics)
		}
		nc, err := nats.Connect(n.NATSURL(), nats.UserInfo("sensor-7"+metrics, "s3cret"))
		if err != nil {
			t.Fatalf("NATS as sensor-7%s: %v", metrics, err)
		}
		nc.Close()
	}
}

func TestAWSIoTDeviceSDKClientsWithoutAUsernameAreAnonymousWhereAnonymousIsAllowed(t *testing.T) {
	n, seen := startWithDevices(t, "") // no devices file: loopback, anonymous allowed
	for i, metrics := range sdkUsernames {
		c, err := mqttDial(n.MQTTPort, fmt.Sprintf("sdk-%d", i), metrics, "")
		if err != nil {
			t.Fatalf("MQTT with username %s: %v", metrics, err)
		}
		if tok := c.Publish("sensors/anon/temp", 1, false, "21"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish with username %s: %v", metrics, tok.Error())
		}
		if _, err := seen.NextMsg(10 * time.Second); err != nil {
			t.Fatalf("the message of the client with username %s did not arrive: %v", metrics, err)
		}
		c.Disconnect(0)
		nc, err := nats.Connect(n.NATSURL(), nats.UserInfo(metrics, ""))
		if err != nil {
			t.Fatalf("NATS with username %s: %v", metrics, err)
		}
		nc.Close()
	}
}
