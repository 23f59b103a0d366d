package nucleus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

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
