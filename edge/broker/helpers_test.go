package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
)

// waitTimeout bounds every wait in these tests; generous for -race on a
// loaded CI machine, never reached when things work.
const waitTimeout = 10 * time.Second

const (
	nucleusPass = "nucleus-secret"
	sensorPass  = "sensor-secret"
)

// testOptions returns loopback options with random ports, a fresh store and
// two users: "nucleus" (everything) and "sensor" (only sensors.> and a.>).
func testOptions(t *testing.T) Options {
	t.Helper()
	o := DefaultOptions()
	o.NATSListen = "127.0.0.1:-1"
	o.MQTTListen = "127.0.0.1:-1"
	o.StoreDir = filepath.Join(t.TempDir(), "jetstream")
	o.Users = testUsers()
	o.Logger = slog.New(slog.DiscardHandler)
	if os.Getenv("BROKER_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

// testUsers are "nucleus" (everything) and "sensor" (only sensors.> and
// a.>).
func testUsers() []User {
	return []User{
		{Name: "nucleus", Password: nucleusPass},
		{Name: "sensor", Password: sensorPass, Permissions: Permissions{
			PublishAllow:   []string{"sensors.>", "a.>"},
			SubscribeAllow: []string{"sensors.>", "a.>"},
		}},
	}
}

// runBroker starts a broker, waits until it is ready and shuts it down when
// the test ends.
func runBroker(t *testing.T, o Options) *Broker {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { b.Shutdown(); b.WaitForShutdown() })
	if err := b.Ready(waitTimeout); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return b
}

// connect opens an in-process connection as user, closed at test end.
func connect(t *testing.T, b *Broker, user string) *nats.Conn {
	t.Helper()
	nc, err := b.Connect(user)
	if err != nil {
		t.Fatalf("Connect(%q): %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// mqttClient describes an MQTT connection attempt.
type mqttClient struct {
	id, user, pass string
	persistent     bool // clean session off
	tls            *tls.Config
	// onMessage receives messages that no Subscribe call in this client
	// asked for, e.g. those of a resumed persistent session.
	onMessage mqtt.MessageHandler
}

// dialMQTT connects a paho client to addr and returns it with the connect
// error (nil on success). The client is disconnected at test end.
func dialMQTT(t *testing.T, addr string, c mqttClient) (mqtt.Client, error) {
	t.Helper()
	scheme := "tcp://"
	if c.tls != nil {
		scheme = "ssl://"
	}
	opts := mqtt.NewClientOptions().
		AddBroker(scheme + addr).
		SetClientID(c.id).
		SetUsername(c.user).
		SetPassword(c.pass).
		SetCleanSession(!c.persistent).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitTimeout).
		SetTLSConfig(c.tls).
		SetDefaultPublishHandler(c.onMessage)
	cl := mqtt.NewClient(opts)
	tok := cl.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		return cl, errors.New("mqtt connect timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { cl.Disconnect(0) })
	}
	return cl, tok.Error()
}

// mustMQTT is dialMQTT that fails the test on error.
func mustMQTT(t *testing.T, addr string, c mqttClient) mqtt.Client {
	t.Helper()
	cl, err := dialMQTT(t, addr, c)
	if err != nil {
		t.Fatalf("mqtt connect %s as %q: %v", addr, c.user, err)
	}
	return cl
}

// wait completes an MQTT token or fails the test.
func wait(t *testing.T, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mqttSubscribe subscribes and returns a channel of received messages.
func mqttSubscribe(t *testing.T, cl mqtt.Client, topic string, qos byte) <-chan mqtt.Message {
	t.Helper()
	ch := make(chan mqtt.Message, 16)
	tok := cl.Subscribe(topic, qos, func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	wait(t, tok, "subscribe "+topic)
	if st, ok := tok.(*mqtt.SubscribeToken); ok && st.Result()[topic] == 0x80 {
		t.Fatalf("subscribe %s: refused by the broker", topic)
	}
	return ch
}

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost to dir and returns the file paths and a pool that trusts it.
// The certificate is also a CA, so it doubles as a client CA and a client
// certificate in mutual TLS tests.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool, pair
}

// natsDial connects over TCP with a user and password (empty = none).
func natsDial(url, user, pass string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.NoReconnect(), nats.Timeout(waitTimeout)}, extra...)
	if user != "" || pass != "" {
		opts = append(opts, nats.UserInfo(user, pass))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats connect %s as %q: %w", url, user, err)
	}
	return nc, nil
}
