package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// Mosquitto is a mosquitto broker on a loopback port that requires mutual
// TLS: the stand-in for AWS IoT Core's MQTT endpoint in transport tests.
// It keeps no state across Restart (persistence off), so a restarted
// broker has lost every session, as an IoT Core session that expired.
type Mosquitto struct {
	// Port is the TLS listener's port on 127.0.0.1.
	Port int
	// PKI holds the CA, the broker's certificate and a client certificate.
	PKI *PKI

	t    testing.TB
	conf string
	log  *testlog.Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts mosquitto (make tools installs it) with a new PKI
// whose client certificate names clientCN. It is stopped when t ends.
func StartMosquitto(t testing.TB, clientCN string) *Mosquitto {
	t.Helper()
	m := &Mosquitto{t: t, PKI: NewPKI(t, clientCN), log: &testlog.Buffer{}}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	m.Port = port
	m.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	// user: run as root, mosquitto would switch to its own user, which
	// cannot read the test's 0700 folders; stay the test's user.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`user %s
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
allow_anonymous true
persistence false
max_inflight_messages 100
max_queued_messages 100000
log_dest stderr
`, me.Username, m.Port, m.PKI.CAFile, m.PKI.ServerCert, m.PKI.ServerKey)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// Start starts the broker again after Stop, on the same port, and waits
// until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // Debian installs it outside a user's PATH
		if _, err := os.Stat(bin); err != nil {
			m.t.Fatalf("mosquitto is not installed: run make tools (apt-get install mosquitto)")
		}
	}
	m.cmd = exec.Command(bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	done := make(chan struct{})
	m.done = done
	go func() { _ = m.cmd.Wait(); close(done) }()
	addr := "127.0.0.1:" + strconv.Itoa(m.Port)
	deadline := time.Now().Add(WaitTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			m.t.Fatalf("mosquitto exited:\n%s", m.log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto not listening on %s after %s:\n%s", addr, WaitTimeout, m.log.String())
		}
	}
}

// Stop stops the broker and waits for it. Calling it again does nothing.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
	m.cmd = nil
}

// Log is what mosquitto printed.
func (m *Mosquitto) Log() string { return m.log.String() }
