package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/internal/testutil"
)

// shadowNucleus runs a broker and the shadow service and writes the admin
// credential into a root folder, as `sward run` does; it returns the root.
func shadowNucleus(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	b, err := broker.New(broker.Options{
		StoreDir:   filepath.Join(root, "jetstream"),
		NATSListen: "127.0.0.1:-1",
		Users:      []broker.User{{Name: "sward-admin", Password: "admin-secret"}},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := testutil.StartBroker(t, b, "sward-admin")
	s, err := shadow.New(shadow.Options{Conn: nc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if err := control.WriteCredential(root, control.Credential{NATSURL: b.NATSURL(), User: "sward-admin", Password: "admin-secret", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestShadowCommandsUpdateGetListAndDelete(t *testing.T) {
	root := shadowNucleus(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := execute(t, append(args, "--root", root)...)
		if err != nil {
			t.Fatalf("sward %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	out := run("shadow", "update", "--thing", "lamp", "--document", `{"state":{"desired":{"on":true}}}`)
	if !strings.Contains(out, `"version": 1`) || !strings.Contains(out, `"on": true`) {
		t.Fatalf("update printed %s", out)
	}
	doc := filepath.Join(t.TempDir(), "reported.json")
	if err := os.WriteFile(doc, []byte(`{"state":{"reported":{"on":false}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run("shadow", "update", "--thing", "lamp", "--document", "@"+doc)
	out = run("shadow", "get", "--thing", "lamp")
	if !strings.Contains(out, `"delta": {`) || !strings.Contains(out, `"version": 2`) {
		t.Fatalf("get printed %s", out)
	}
	for _, n := range []string{"b-cfg", "a-fw"} {
		run("shadow", "update", "--thing", "lamp", "--name", n, "--document", `{"state":{"reported":{"x":1}}}`)
	}
	if out = run("shadow", "list", "--thing", "lamp"); out != "a-fw\nb-cfg\n" {
		t.Fatalf("list printed %q, want the named shadows sorted", out)
	}
	if out = run("shadow", "delete", "--thing", "lamp", "--name", "a-fw"); !strings.Contains(out, `"version": 1`) {
		t.Fatalf("delete printed %s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"shadow", "get", "--thing", "lamp", "--name", "a-fw"}, `shadow get of thing "lamp" shadow "a-fw" rejected: 404 No shadow exists with name: 'a-fw'`},
		{[]string{"shadow", "update", "--thing", "lamp", "--document", `{"state":`}, `shadow update of thing "lamp" (classic shadow) rejected: 400 Invalid JSON`},
		{[]string{"shadow", "update", "--thing", "lamp", "--document", `{"state":{},"version":1}`}, "409 Version conflict"},
		{[]string{"shadow", "update", "--thing", "lamp", "--document", "@" + filepath.Join(root, "missing.json")}, "missing.json: no such file"},
		{[]string{"shadow", "get"}, `required flag(s) "thing" not set`},
		{[]string{"shadow", "update", "--thing", "lamp"}, `required flag(s) "document" not set`},
		{[]string{"shadow", "list", "--thing", "lamp", "--page-size", "500"}, "400 Invalid pageSize 500"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			_, err := execute(t, append(tc.args, "--root", root)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestShadowCommandWithoutANucleusSaysHowToStartOne(t *testing.T) {
	root := t.TempDir()
	_, err := execute(t, "shadow", "get", "--thing", "x", "--root", root)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("`sward run --root %s` starts one there", root)) {
		t.Fatalf("err %v", err)
	}
}
