package hostile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// privateCA is a CA made for one test and a server certificate it signed.
type privateCA struct {
	caPEM, leafPEM, keyPEM []byte
}

// newPrivateCA makes a CA and a server certificate for the given names
// (IP addresses or DNS names).
func newPrivateCA(t *testing.T, names ...string) privateCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sward test private CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return privateCA{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		leafPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestComponentsAndTheCLITrustTheNucleusUnderAPrivateCA(t *testing.T) {
	tests := []struct {
		name string
		// certNames are the names the server certificate holds.
		certNames []string
		// args builds the TLS flags of sward run from the files.
		args func(dir string, ca privateCA) []string
	}{
		{"CA given with --tls-server-ca", []string{"127.0.0.1"}, func(dir string, ca privateCA) []string {
			return []string{"--tls-cert", writeFile(t, dir, "server.pem", ca.leafPEM), "--tls-key", writeFile(t, dir, "server.key", ca.keyPEM),
				"--tls-server-ca", writeFile(t, dir, "ca.pem", ca.caPEM)}
		}},
		{"CA following the leaf in --tls-cert, key in the same file", []string{"127.0.0.1"}, func(dir string, ca privateCA) []string {
			both := writeFile(t, dir, "server.pem", append(append(append([]byte{}, ca.leafPEM...), ca.caPEM...), ca.keyPEM...))
			return []string{"--tls-cert", both, "--tls-key", writeFile(t, dir, "server.key", ca.keyPEM)}
		}},
		{"certificate naming the device, not the loopback address clients dial", []string{"device.example"}, func(dir string, ca privateCA) []string {
			return []string{"--tls-cert", writeFile(t, dir, "server.pem", ca.leafPEM), "--tls-key", writeFile(t, dir, "server.key", ca.keyPEM),
				"--tls-server-ca", writeFile(t, dir, "ca.pem", ca.caPEM)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newPrivateCA(t, tt.certNames...)
			n := harness.Start(t, "", "", tt.args(t.TempDir(), ca)...)

			published := filepath.Join(n.Root, "public", "ca.pem")
			st, err := os.Stat(published)
			if err != nil {
				t.Fatalf("no CA bundle published for components: %v", err)
			}
			data, _ := os.ReadFile(published)
			if st.Mode().Perm() != 0o644 || string(data) != string(ca.caPEM) {
				t.Errorf("%s is %v:\n%s\nwant mode 0644 and exactly the CA certificate (never a key)", published, st.Mode().Perm(), data)
			}

			n.DeployLocal(map[string]string{"com.example.Client": actorRecipe(t, "com.example.Client", "latency", "    threshold: 5")})
			n.WaitState("com.example.Client", 20*time.Second, "RUNNING")
			n.Touch("com.example.Client", "stop")
			n.Touch("com.example.Client", "go")
			calls := readOutcome(t, n, "com.example.Client", "latency")
			if calls.Answers["ok"] == 0 || calls.Answers["ok"] != calls.Sent {
				t.Errorf("the component's IPC calls over TLS: %v %v", calls.Answers, calls.Messages)
			}
			out, err := n.CLI("component", "list")
			if err != nil || !strings.Contains(out, "com.example.Client") {
				t.Errorf("sward component list over TLS: %v\n%s", err, out)
			}
			out, err = n.CLI("component", "list", "--tls-ca", published)
			if err != nil || !strings.Contains(out, "com.example.Client") {
				t.Errorf("sward component list --tls-ca: %v\n%s", err, out)
			}
		})
	}
}

func TestSampleComponentsWorkUnderTLSWithAPrivateCA(t *testing.T) {
	ca := newPrivateCA(t, "127.0.0.1")
	dir := t.TempDir()
	n := harness.Start(t, filepath.Join(harness.RepoRoot(), "recipes"), harness.SampleArtifacts(t),
		"--tls-cert", writeFile(t, dir, "server.pem", ca.leafPEM), "--tls-key", writeFile(t, dir, "server.key", ca.keyPEM),
		"--tls-server-ca", writeFile(t, dir, "ca.pem", ca.caPEM))
	health, err := n.AdminConn().SubscribeSync("sward.test-thing.health")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.WaitState("com.sward.samples.DeviceInfo", 60*time.Second, "FINISHED", "BROKEN"); got.State != "FINISHED" {
		t.Errorf("the one-shot DeviceInfo (Go, NATS) ended %s: %s", got.State, got.Reason)
	}
	harness.Eventually(t, 30*time.Second, "every sample RUNNING or FINISHED", func() error {
		comps, err := n.Client().Components(context.Background())
		if err != nil {
			return err
		}
		for _, c := range comps {
			if c.State == "BROKEN" {
				log, _ := os.ReadFile(filepath.Join(n.Root, "logs", c.Name+".log"))
				return harness.Permanent(fmt.Errorf("%s is BROKEN under TLS: %s\n%s", c.Name, c.Reason, log))
			}
			if c.State != "RUNNING" && c.State != "FINISHED" {
				return fmt.Errorf("%s is %s: %s", c.Name, c.State, c.Reason)
			}
		}
		return nil
	})
	t.Run("the Python component verifies the nucleus with SWARD_NATS_CA", func(t *testing.T) {
		if out, err := n.CLI("component", "restart", "com.sward.samples.HealthReporter"); err != nil {
			t.Fatalf("restart: %v\n%s", err, out)
		}
		if _, err := health.NextMsg(30 * time.Second); err != nil {
			t.Fatalf("no health record over TLS: %v", err)
		}
	})
	t.Run("readings flow from the MQTT simulator through the detector into the stream", func(t *testing.T) {
		harness.Eventually(t, 30*time.Second, "readings in the SensorReadings stream", func() error {
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
}
