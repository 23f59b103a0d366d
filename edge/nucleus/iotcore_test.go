package nucleus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
)

// iotcoreConnected is the link's sward_iotcore_connected on the
// nucleus's registry, or -1 when the link is not registered.
func iotcoreConnected(t *testing.T, n *Nucleus) float64 {
	t.Helper()
	mfs, err := n.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sward_iotcore_connected" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func startNucleus(t *testing.T, link iotcore.Options) *Nucleus {
	t.Helper()
	n, err := New(Options{Root: t.TempDir(), NATSListen: "127.0.0.1:-1", MQTTListen: "off", MetricsListen: "off",
		RunAs: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), KeepStartupPages: true, ThingName: "nucleus-thing",
		IoTCore: link, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

func TestTheCloudLinkRunsOnlyWhenAnEndpointIsConfigured(t *testing.T) {
	t.Run("no endpoint", func(t *testing.T) {
		n := startNucleus(t, iotcore.Options{})
		if v := iotcoreConnected(t, n); v != -1 {
			t.Fatalf("sward_iotcore_connected = %v without a cloud configured, want no link", v)
		}
	})
	t.Run("endpoint", func(t *testing.T) {
		m := testutil.StartMosquitto(t, "nucleus-thing")
		n := startNucleus(t, iotcore.Options{Endpoint: "127.0.0.1", Port: m.Port,
			CertFile: m.PKI.ClientCert, KeyFile: m.PKI.ClientKey, RootCAFile: m.PKI.CAFile})
		testutil.Until(t, "the link connected", func() bool { return iotcoreConnected(t, n) == 1 })
	})
	t.Run("missing certificate", func(t *testing.T) {
		n := startNucleus(t, iotcore.Options{Endpoint: "127.0.0.1", CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key", RootCAFile: "/nonexistent-ca.pem"})
		if v := iotcoreConnected(t, n); v != -1 {
			t.Fatalf("sward_iotcore_connected = %v with a missing certificate, want no link", v)
		}
	})
}

func TestTheConfigFilesCloudSettingsConfigureTheIoTCoreLink(t *testing.T) {
	o := Options{Root: t.TempDir(), ThingName: "kitchen-1", Cloud: devconfig.Cloud{
		DataEndpoint: "abc-ats.iot.eu-west-1.amazonaws.com", Port: 443,
		CertificateFile: "/certs/device.pem.crt", PrivateKeyFile: "/certs/private.pem.key", RootCAFile: "/certs/AmazonRootCA1.pem",
		KeepAlive: 60 * time.Second, PingTimeout: 30 * time.Second, MinReconnectDelay: time.Second, MaxReconnectDelay: 2 * time.Minute,
		SpoolMaxBytes: 5 << 20, KeepQoS0WhenOffline: true,
	}}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	got := o.IoTCore
	if got.Endpoint != "abc-ats.iot.eu-west-1.amazonaws.com" || got.Port != 443 || !got.ALPN {
		t.Errorf("endpoint %s:%d ALPN %v, want the file's endpoint on 443 with ALPN (IoT Core requires it there)", got.Endpoint, got.Port, got.ALPN)
	}
	if got.CertFile != "/certs/device.pem.crt" || got.KeyFile != "/certs/private.pem.key" || got.RootCAFile != "/certs/AmazonRootCA1.pem" {
		t.Errorf("files %q %q %q, want the file's system paths", got.CertFile, got.KeyFile, got.RootCAFile)
	}
	if got.KeepAlive != 60*time.Second || got.MaxBackoff != 2*time.Minute || got.Spool.MaxBytes != 5<<20 || !got.KeepQoS0WhenOffline {
		t.Errorf("mqtt settings not carried over: %+v", got)
	}

	explicit := Options{Root: t.TempDir(), ThingName: "kitchen-1", Cloud: o.Cloud, IoTCore: iotcore.Options{Endpoint: "127.0.0.1", Port: 18883}}
	if err := explicit.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if explicit.IoTCore.Endpoint != "127.0.0.1" || explicit.IoTCore.Port != 18883 {
		t.Errorf("IoTCore options given directly were replaced by the file's: %+v", explicit.IoTCore)
	}
}
