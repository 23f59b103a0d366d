package stream_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/cli"
	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/stream"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// `sward stream ...` drives a running nucleus's stream manager through the
// admin API, with the admin credential in the root folder.
func TestCLIStreamCommands(t *testing.T) {
	root := t.TempDir()
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen = "127.0.0.1:-1", ""
	o.StoreDir = filepath.Join(root, "jetstream")
	o.Users = []broker.User{{Name: "admin", Password: "admin-secret"}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "admin")
	m, err := stream.New(stream.Options{Conn: nc, JetStreamStoreDir: o.StoreDir, ServeAdmin: true, Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Shutdown)
	if err := control.WriteCredential(root, control.Credential{NATSURL: b.NATSURL(), User: "admin", Password: "admin-secret"}); err != nil {
		t.Fatal(err)
	}

	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := cli.NewRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetIn(strings.NewReader(stdin))
		cmd.SetArgs(append(args, "--root", root))
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(stdin, args...)
		if err != nil {
			t.Fatalf("sward %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	must("", "stream", "create", "telemetry", "--strategy", "OverwriteOldestData", "--max-size", "65536", "--ttl", "1h")
	if out := must("", "stream", "list"); out != "telemetry\n" {
		t.Errorf("list = %q", out)
	}
	if out := must("", "stream", "append", "telemetry", "--data", "hello"); out != "1\n" {
		t.Errorf("append --data printed %q, want the sequence number 1", out)
	}
	if out := must("from stdin", "stream", "append", "telemetry"); out != "2\n" {
		t.Errorf("append from stdin printed %q, want 2", out)
	}
	out := must("", "stream", "read", "telemetry", "--from", "1", "--max", "10")
	if !strings.Contains(out, "hello") || !strings.Contains(out, "from stdin") {
		t.Errorf("read printed %q, want both payloads", out)
	}
	must("", "stream", "update", "telemetry", "--flush-on-write")
	out = must("", "stream", "describe", "telemetry")
	for _, want := range []string{"OverwriteOldestData", "Flush on write:    true", "1h0m0s", "1 to 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}

	// Errors come back with the nucleus's code and message.
	_, err = run("", "stream", "create", "telemetry", "--strategy", "RejectNewData")
	if err == nil || !strings.Contains(err.Error(), ipc.CodeInvalidArguments) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate create error = %v", err)
	}
	_, err = run("", "stream", "create", "bad", "--strategy", "Sometimes")
	if err == nil || !strings.Contains(err.Error(), `"Sometimes" is not a strategy`) {
		t.Errorf("bad strategy error = %v", err)
	}
	_, err = run("", "stream", "read", "telemetry", "--from", "3", "--wait", "100ms")
	if err == nil || !strings.Contains(err.Error(), "NotEnoughMessagesError") {
		t.Errorf("read past the end error = %v", err)
	}
	must("", "stream", "delete", "telemetry")
	if out := must("", "stream", "list"); out != "" {
		t.Errorf("list after delete = %q", out)
	}
}
