package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/control"
)

var (
	toolsMu  sync.Mutex
	toolsDir string
	tools    = map[string]error{}
)

// Tool builds the main package pkg (e.g. "./test/ipcprobe") once per test
// process and returns the binary's path.
func Tool(t testing.TB, pkg string) string {
	t.Helper()
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if toolsDir == "" {
		dir, err := os.MkdirTemp("", "sward-tools-")
		if err != nil {
			t.Fatal(err)
		}
		// Components run as other users than the test (sward_user when
		// root) and must be able to execute the tools.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		toolsDir = dir
	}
	out := filepath.Join(toolsDir, filepath.Base(pkg))
	err, built := tools[pkg]
	if !built {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = RepoRoot()
		if b, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("go build %s: %v\n%s", pkg, e, b)
		}
		tools[pkg] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// MetricsURL is the /metrics address the nucleus logged ("metrics endpoint
// ready"); empty when it has none.
func (n *Nucleus) MetricsURL() string {
	for _, line := range strings.Split(n.Output(), "\n") {
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "metrics endpoint ready" {
			return l.Addr
		}
	}
	return ""
}

// AdminConn is a NATS connection to the nucleus as its admin (every
// subject), closed at test cleanup.
func (n *Nucleus) AdminConn() *nats.Conn {
	n.t.Helper()
	nc, err := control.DialConn(n.Root)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(nc.Close)
	return nc
}

// NATSURL is the nucleus's NATS listener, as its admin credential names it.
func (n *Nucleus) NATSURL() string {
	n.t.Helper()
	cred, err := control.ReadCredential(n.Root)
	if err != nil {
		n.t.Fatal(err)
	}
	return cred.NATSURL
}
