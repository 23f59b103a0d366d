package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// The config file's MQTT bridge section, through `sward run --config`:
// a sensor on the nucleus's MQTT listener reaches the cloud (mosquitto
// with mutual TLS as IoT Core), and the cloud reaches the sensor.
func TestRunConfigFileBridgesLocalMqttAndIoTCore(t *testing.T) {
	cloudBroker := testutil.StartMosquitto(t, "test-thing")
	pki := cloudBroker.PKI
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
system:
  thingName: test-thing
  certificateFilePath: %s
  privateKeyPath: %s
  rootCaPath: %s
services:
  aws.greengrass.Nucleus:
    configuration:
      iotDataEndpoint: 127.0.0.1
      mqtt:
        port: %d
        minimumReconnectDelaySeconds: 1
  aws.greengrass.clientdevices.mqtt.Bridge:
    configuration:
      mqttTopicMapping:
        Telemetry:
          topic: sensors/+/reading
          source: LocalMqtt
          target: IotCore
          targetTopicPrefix: dt/test-thing/
        Commands:
          topic: cmd/test-thing/#
          source: IotCore
          target: LocalMqtt
`, pki.ClientCert, pki.ClientKey, pki.CAFile, cloudBroker.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	n := harness.Start(t, "", "", "--config", config)

	cloud, err := dialThing(fmt.Sprintf("127.0.0.1:%d", cloudBroker.Port), "cloud-app",
		deviceTLS(t, thingFiles{CertificateFilePath: pki.ClientCert, PrivateKeyPath: pki.ClientKey, RootCaPath: pki.CAFile}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cloud.Disconnect(0)
	up := make(chan string, 10)
	if tok := cloud.Subscribe("dt/#", 1, func(_ mqtt.Client, m mqtt.Message) { up <- m.Topic() + " " + string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud subscribe: %v", tok.Error())
	}

	sensor, err := mqttDial(n.MQTTPort, "sensor-1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Disconnect(0)
	down := make(chan string, 10)
	if tok := sensor.Subscribe("cmd/#", 1, func(_ mqtt.Client, m mqtt.Message) { down <- m.Topic() + " " + string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("sensor subscribe: %v", tok.Error())
	}

	publish(t, sensor, "sensors/s1/reading", []byte("21.5"))
	if got, want := testutil.Receive(t, up, "the reading at the cloud"), "dt/test-thing/sensors/s1/reading 21.5"; got != want {
		t.Errorf("cloud got %q, want %q", got, want)
	}
	// The bridge's subscription to the cloud is made when the link is up;
	// until then a command has nobody to reach, so send until one arrives.
	harness.Eventually(t, 15*time.Second, "a cloud command at the sensor", func() error {
		publish(t, cloud, "cmd/test-thing/valve", []byte("open"))
		select {
		case got := <-down:
			if got != "cmd/test-thing/valve open" {
				return harness.Permanent(fmt.Errorf("sensor got %q, want cmd/test-thing/valve open", got))
			}
			return nil
		case <-time.After(500 * time.Millisecond):
			return fmt.Errorf("nothing yet")
		}
	})
}
