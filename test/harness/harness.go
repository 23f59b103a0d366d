// Package harness starts real Sward processes for integration tests: it
// builds the sward binary once, runs `sward run` in a temporary root folder
// on free loopback ports, and offers polling helpers over the control API.
package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// RepoRoot is the repository root (the folder with go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary builds the sward binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sward-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "sward"), "./edge/cmd/sward")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build sward: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "sward")
}

// Artifacts builds the sample components' artifacts once into a folder.
var (
	artifactsOnce sync.Once
	artifactsDir  string
	artifactsErr  error
)

// SampleArtifacts runs the recipes build tool once and returns the artifact folder.
func SampleArtifacts(t testing.TB) string {
	t.Helper()
	artifactsOnce.Do(func() {
		artifactsDir, artifactsErr = os.MkdirTemp("", "sward-artifacts-")
		if artifactsErr != nil {
			return
		}
		cmd := exec.Command("go", "run", "./recipes/cmd/build-artifacts", "-recipes", "recipes", "-out", artifactsDir)
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			artifactsErr = fmt.Errorf("build sample artifacts: %v\n%s", err, out)
		}
	})
	if artifactsErr != nil {
		t.Fatal(artifactsErr)
	}
	return artifactsDir
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Nucleus is one `sward run` process.
type Nucleus struct {
	t        testing.TB
	Root     string
	MQTTPort int
	cmd      *exec.Cmd
	output   *testlog.Buffer
	done     chan struct{}
	waitErr  error
}

// Start runs `sward run --root <temp> --recipes recipesDir [--artifacts artifactsDir] args...`
// and waits until the control API answers. The process is stopped at test cleanup.
func Start(t testing.TB, recipesDir, artifactsDir string, args ...string) *Nucleus {
	t.Helper()
	return StartAt(t, t.TempDir(), recipesDir, artifactsDir, args...)
}

// StartAt is Start with a given root folder, e.g. one a previous nucleus used.
func StartAt(t testing.TB, root, recipesDir, artifactsDir string, args ...string) *Nucleus {
	t.Helper()
	n := &Nucleus{t: t, Root: root, output: &testlog.Buffer{}, done: make(chan struct{})}
	Traversable(t, root)
	// Port 0: the nucleus binds free ports itself, so parallel tests never
	// race for one; MQTTPort is read from its "broker ready" log line.
	argv := []string{"run", "--root", n.Root,
		"--nats-listen", "127.0.0.1:0",
		"--mqtt-listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0",
		"--thing-name", "test-thing"}
	if recipesDir != "" {
		argv = append(argv, "--recipes", recipesDir)
	}
	if artifactsDir != "" {
		argv = append(argv, "--artifacts", artifactsDir)
	}
	argv = append(argv, args...)
	n.cmd = exec.Command(Binary(t), argv...)
	n.cmd.Stdout = n.output
	n.cmd.Stderr = n.output
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start sward: %v", err)
	}
	go func() { n.waitErr = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.Signal(syscall.SIGINT)
		if !n.WaitExit(40 * time.Second) {
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			t.Logf("sward output:\n%s", n.Output())
			n.logComponentLogs(t)
		}
	})
	Eventually(t, 15*time.Second, "the nucleus answers on its control API", func() error {
		select {
		case <-n.done:
			return Permanent(fmt.Errorf("sward exited early: %v\n%s", n.waitErr, n.Output()))
		default:
		}
		c, err := control.Dial(n.Root)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Components(context.Background())
		return err
	})
	n.MQTTPort = n.mqttPort()
	return n
}

// mqttPort reads the MQTT listener's port from the "broker ready" log line
// (0 when MQTT is off).
func (n *Nucleus) mqttPort() int {
	for _, line := range strings.Split(n.Output(), "\n") {
		var l struct {
			Msg  string `json:"msg"`
			MQTT string `json:"mqtt"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "broker ready" || l.MQTT == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.MQTT); err == nil {
			p, _ := strconv.Atoi(port)
			return p
		}
	}
	return 0
}

// PID is the nucleus's process id.
func (n *Nucleus) PID() int { return n.cmd.Process.Pid }

// Output is everything the nucleus printed so far.
func (n *Nucleus) Output() string { return n.output.String() }

// Signal sends sig to the nucleus.
func (n *Nucleus) Signal(sig syscall.Signal) { _ = n.cmd.Process.Signal(sig) }

// WaitExit waits up to d for the process to exit.
func (n *Nucleus) WaitExit(d time.Duration) bool {
	select {
	case <-n.done:
		return true
	case <-time.After(d):
		return false
	}
}

// ExitErr is the process's exit error after WaitExit returned true.
func (n *Nucleus) ExitErr() error { return n.waitErr }

// Client dials the control API.
func (n *Nucleus) Client() *control.Client {
	n.t.Helper()
	c, err := control.Dial(n.Root)
	if err != nil {
		n.t.Fatalf("dial nucleus: %v", err)
	}
	n.t.Cleanup(c.Close)
	return c
}

// WaitState polls until component name is in one of states and returns it.
func (n *Nucleus) WaitState(name string, timeout time.Duration, states ...string) control.Component {
	n.t.Helper()
	c := n.Client()
	var got control.Component
	Eventually(n.t, timeout, fmt.Sprintf("%s reaches %v", name, states), func() error {
		comp, err := c.Component(context.Background(), name)
		if err != nil {
			return err
		}
		got = comp
		for _, s := range states {
			if comp.State == s {
				return nil
			}
		}
		return fmt.Errorf("%s is %s (%s)", name, comp.State, comp.Reason)
	})
	return got
}

// CLI runs the sward binary with args against this nucleus's root and
// returns its combined output and exit error.
func (n *Nucleus) CLI(args ...string) (string, error) {
	return RunCLI(n.t, append(args, "--root", n.Root)...)
}

// RunCLI runs the sward binary with args.
func RunCLI(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, Binary(t), args...).CombinedOutput()
	return string(out), err
}

// permanent marks an error that ends Eventually at once.
type permanent struct{ error }

// Permanent wraps err so that Eventually stops retrying.
func Permanent(err error) error { return permanent{err} }

// Eventually calls f until it returns nil or timeout passes, then fails the
// test with what, and f's last error.
func Eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		var p permanent
		if errors.As(err, &p) {
			t.Fatalf("%s: %v", what, p.error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(delay)
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// Traversable lets every user search the folders above path that lie in
// the temporary folder (t.TempDir makes them 0700): a nucleus running as
// root runs its components as sward_user or their own uids, which must
// reach their work folders and artifacts under the root, as on a device
// whose root is /var/lib/sward.
func Traversable(t testing.TB, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(filepath.Clean(path)); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			t.Fatal(err)
		}
	}
}

// WriteRecipes writes name → YAML text files into a new temporary folder.
func WriteRecipes(t testing.TB, recipes map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range recipes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.TrimLeft(text, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Alive reports whether a process with pid exists and is not a zombie.
func Alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state field follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// logComponentLogs prints the end of every component's log in the root, so
// that a failing test shows why a component failed, not only that it did.
func (n *Nucleus) logComponentLogs(t testing.TB) {
	files, _ := filepath.Glob(filepath.Join(n.Root, "logs", "*.log"))
	for _, f := range files {
		if filepath.Base(f) == "sward.log" {
			continue // the nucleus's own log is its output above
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		const tail = 4 << 10
		if len(data) > tail {
			data = data[len(data)-tail:]
		}
		t.Logf("%s (last %d bytes):\n%s", filepath.Base(f), len(data), data)
	}
}
