package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// The whole path with the real link: mosquitto with mutual TLS stands in
// for IoT Core, and the bridge sits between it and the embedded broker's
// MQTT listener.
func TestWithTheRealLinkLocalMqttAndTheCloudReachEachOther(t *testing.T) {
	const thing = "bridge-thing"
	l := startLocal(t)
	cloudBroker := testutil.StartMosquitto(t, thing)
	link := startLink(t, l, cloudBroker, thing, 0)

	startBridge(t, l, link,
		Mapping{Name: "Telemetry", Topic: "sensors/+/reading", Source: LocalMqtt, Target: IotCore, TargetTopicPrefix: "dt/" + thing + "/"},
		Mapping{Name: "Commands", Topic: "cmd/" + thing + "/#", Source: IotCore, Target: LocalMqtt},
		Mapping{Name: "EchoUp", Topic: "both/#", Source: LocalMqtt, Target: IotCore},
		Mapping{Name: "EchoDown", Topic: "both/#", Source: IotCore, Target: LocalMqtt},
	)

	cloud := cloudClient(t, cloudBroker)
	up := subscribeMQTT(t, cloud, "dt/#")
	sensor := l.mqttClient(t, "sensor-1")
	down := subscribeMQTT(t, sensor, "cmd/#")

	publishMQTT(t, sensor, "sensors/s1/reading", `{"t":21.5}`)
	if got, want := testutil.Receive(t, up, "the reading at the cloud"), (received{"dt/" + thing + "/sensors/s1/reading", `{"t":21.5}`}); got != want {
		t.Errorf("cloud got %v, want %v", got, want)
	}

	publishMQTT(t, cloud, "cmd/"+thing+"/valve", "open")
	if got, want := testutil.Receive(t, down, "the command at the sensor"), (received{"cmd/" + thing + "/valve", "open"}); got != want {
		t.Errorf("sensor got %v, want %v", got, want)
	}

	// Both ways on the same topics: mosquitto, like IoT Core, sends the
	// device its own publish back; that copy is not bridged in again.
	both := subscribeMQTT(t, sensor, "both/#")
	cloudBoth := subscribeMQTT(t, cloud, "both/#")
	publishMQTT(t, sensor, "both/1", "from the sensor")
	testutil.Receive(t, cloudBoth, "both/1 at the cloud")
	// Sent after mosquitto delivered both/1 to every subscriber, the link
	// included: the marker comes after any copy of both/1.
	publishMQTT(t, cloud, "both/2", "marker")
	got := []received{testutil.Receive(t, both, "local messages")}
	for got[len(got)-1].payload != "marker" {
		got = append(got, testutil.Receive(t, both, "local messages up to the marker"))
	}
	if want := []received{{"both/1", "from the sensor"}, {"both/2", "marker"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sensor got %v, want each message once: %v", got, want)
	}
	if got := testutil.Receive(t, cloudBoth, "the cloud's own marker"); got.payload != "marker" {
		t.Errorf("cloud got %v after both/1, want its own marker only (nothing bridged back up)", got)
	}
}

// startLink starts the real IoT Core link to m as thing, its spool on
// l's JetStream, and waits until it is connected. publishRate 0 is IoT
// Core's quota, negative none.
func startLink(t testing.TB, l *local, m *testutil.Mosquitto, thing string, publishRate float64) *iotcore.Service {
	t.Helper()
	js, err := jetstream.New(l.nc)
	if err != nil {
		t.Fatal(err)
	}
	link, err := iotcore.New(iotcore.Options{
		ThingName: thing, Endpoint: "127.0.0.1", Port: m.Port,
		CertFile: m.PKI.ClientCert, KeyFile: m.PKI.ClientKey, RootCAFile: m.PKI.CAFile,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PublishRate: publishRate,
		JetStream: js, Conn: l.nc, Logger: testlog.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := link.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
		defer cancel()
		_ = link.Shutdown(ctx)
	})
	testutil.Until(t, "the link connected", func() bool { return link.State(context.Background()).Connected })
	return link
}

// cloudClient is an MQTT client of the IoT Core stand-in, with the
// stand-in PKI's client certificate.
func cloudClient(t testing.TB, m *testutil.Mosquitto) mqtt.Client {
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
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tls://127.0.0.1:%d", m.Port)).SetClientID("cloud-app").
		SetTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}).
		SetCleanSession(true).SetOrderMatters(true).SetAutoReconnect(false))
	wait(t, c.Connect(), "connect to the IoT Core stand-in")
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}
