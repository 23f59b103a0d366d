package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// execute runs the sward command tree with args and returns its output and error.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := Execute(context.Background(), cmd, args)
	return out.String(), err
}

func TestBadFlagsAreRefusedWithTheFix(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown output format", []string{"component", "list", "-o", "yaml", "--root", root}, "use table or json"},
		{"malformed platform", []string{"recipe", "validate", "--platform", "linux", root}, "--platform"},
		{"unknown log level", []string{"run", "--root", root, "--log-level", "loud"}, "debug, info, warn or error"},
		{"missing component name", []string{"component", "details", "--root", root}, "exactly one component name"},
		{"path as log name", []string{"logs", "get", "../etc", "--root", root}, "not a component name"},
		{"unknown flag", []string{"run", "--root", root, "--nats-port", "1"}, "unknown flag"},
		{"recipes folder missing", []string{"run", "--root", root, "--recipes", filepath.Join(root, "nope")}, "pass --recipes DIR"},
		{"name as argument and as -n", []string{"component", "details", "a.B", "-n", "c.D", "--root", root}, "not both"},
		{"restart without a name", []string{"component", "restart", "--root", root}, "one or more component names"},
		{"status without an id", []string{"deployment", "status", "--root", root}, "exactly one deployment id"},
		{"update-config neither JSON nor a file", []string{"deployment", "create", "-c", filepath.Join(root, "missing.json"), "--root", root}, "--update-config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execute(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sward %v: err %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestGreengrassCLISpellingsAreAccepted: each command gets past its
// arguments to dialling the nucleus, which is not running here.
func TestGreengrassCLISpellingsAreAccepted(t *testing.T) {
	root := t.TempDir()
	update := filepath.Join(root, "update.json")
	if err := os.WriteFile(update, []byte(`{"com.example.App":{"MERGE":{"port":8080}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"component", "details", "-n", "com.example.App"},
		{"component", "details", "--name", "com.example.App"},
		{"component", "restart", "-n", "com.example.A,com.example.B"},
		{"component", "stop", "--names", "com.example.A & com.example.B"},
		{"component", "stop", "com.example.A", "com.example.B"},
		{"deployment", "status", "-i", "0b9f-id"},
		{"deployment", "status", "--deploymentId", "0b9f-id"},
		{"deployment", "create", "-c", update},
		{"deployment", "create", "--update-config", update, "-fp", "DO_NOTHING"},
	} {
		_, err := execute(t, append(args, "--root", root)...)
		if err == nil || !strings.Contains(err.Error(), "not running") {
			t.Errorf("sward %q: err %v, want it to reach the (stopped) nucleus", args, err)
		}
	}
}

func TestLogsGetOfAComponentWithoutALogNamesThePath(t *testing.T) {
	root := t.TempDir()
	_, err := execute(t, "logs", "get", "com.example.Quiet", "--root", root)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "logs", "com.example.Quiet.log")) {
		t.Fatalf("err %v", err)
	}
}

// lockedBuffer is a writer safe to read while printLog writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls out until it contains want.
func waitFor(t *testing.T, out *lockedBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q; printed %q", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowPrintsAppendedLinesAndContinuesAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- printLog(ctx, out, path, true, nil) }()

	waitFor(t, out, "one\n")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("two\n")
	f.Close()
	waitFor(t, out, "two\n")
	// Rotation as lumberjack does it: rename, then a new file at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "three\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one\ntwo\nthree\n" {
		t.Fatalf("followed output %q", got)
	}
}

func TestWithoutARootTheNotRunningHintNamesRootNotRun(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SWARD_ROOT", "")
	_, err := execute(t, "component", "list")
	if err == nil || !strings.Contains(err.Error(), "--root DIR or SWARD_ROOT") || strings.Contains(err.Error(), "sward run") {
		t.Fatalf("component list without --root: %v, want a hint naming --root and SWARD_ROOT and no `sward run`", err)
	}
	root := t.TempDir()
	_, err = execute(t, "component", "list", "--root", root)
	if err == nil || !strings.Contains(err.Error(), "sward run --root "+root) {
		t.Fatalf("component list --root %s: %v, want the `sward run --root` that starts one there", root, err)
	}
}

func TestRunOnATakenPortNamesTheListenFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = execute(t, "run", "--root", t.TempDir(), "--nats-listen", taken.Addr().String(), "--mqtt-listen", "off", "--metrics-listen", "off")
	if err == nil || !strings.Contains(err.Error(), "--nats-listen") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("run on a taken NATS port: %v, want an error naming the address and --nats-listen", err)
	}
}
