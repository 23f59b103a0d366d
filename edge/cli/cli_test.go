package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
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

func waitFor(t *testing.T, out *testlog.Buffer, want string) {
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
	out := &testlog.Buffer{}
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

func TestRecipeValidatePlatformAddsToTheDetectedAttributes(t *testing.T) {
	const file = "testdata/npu_platform.yaml"
	tests := []struct {
		name, platform, want string
	}{
		{"detected platform alone", "", "selects Manifests[1] Linux CPU"},
		{"a custom attribute keeps the detected os", "npu=rknn", "selects Manifests[0] Linux with a Rockchip NPU"},
		{"a detected attribute can be overridden", "npu=rknn,os=windows", "has no manifest for platform os=windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"recipe", "validate", file}
			if tt.platform != "" {
				args = append(args, "--platform", tt.platform)
			}
			out, _ := execute(t, args...)
			if !strings.Contains(out, tt.want) {
				t.Errorf("sward %v printed:\n%s\nwant it to contain %q", args, out, tt.want)
			}
		})
	}
}

func TestRecipeValidateReportsWarningsSelfDependenciesCyclesAndYAMLLines(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string // "" means exit 0
	}{
		{"warnings alone print and exit 0",
			[]string{"testdata/lifecycle_start.yaml"},
			[]string{"ok      testdata/lifecycle_start.yaml: com.example.Typo 1.0.0",
				"  warning: testdata/lifecycle_start.yaml: Manifests[0].Lifecycle.Start: unknown field ignored (known fields: Setenv, Bootstrap, Install, Startup, Run,"},
			""},
		{"a privilege variable the defaults do not resolve warns",
			[]string{"testdata/privilege_variable.yaml"},
			[]string{"ok      testdata/privilege_variable.yaml: com.example.Privileged 1.0.0",
				`  warning: testdata/privilege_variable.yaml: Lifecycle.Run.RequiresPrivilege: "{configuration:/asRoot}" resolves to "maybe"; set configuration key /asRoot to true or false (with the recipe's DefaultConfiguration; every deployment must set it)`},
			""},
		{"a component depending on itself",
			[]string{"testdata/depends_on_itself.yaml"},
			[]string{"INVALID testdata/depends_on_itself.yaml", "ComponentDependencies[com.example.Self]: is the component itself"},
			"1 invalid recipe(s)"},
		{"a cycle among the recipes of a folder",
			[]string{"testdata/cycle"},
			[]string{"ok      testdata/cycle/a.yaml", "ok      testdata/cycle/b.yaml",
				"CYCLE   com.example.A → com.example.B → com.example.A",
				"dependency cycle com.example.A → com.example.B → com.example.A (testdata/cycle/a.yaml, testdata/cycle/b.yaml)"},
			"1 dependency cycle(s)"},
		{"a cycle across files given one by one",
			[]string{"testdata/cycle/b.yaml", "testdata/cycle/a.yaml"},
			[]string{"CYCLE   com.example.A → com.example.B → com.example.A"},
			"1 dependency cycle(s)"},
		{"a YAML error names the line that causes it",
			[]string{"testdata/misindented.yaml"},
			[]string{`testdata/misindented.yaml: invalid YAML: line 7: did not find expected key, at "Install: ./install"`},
			"1 invalid recipe(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := execute(t, append([]string{"recipe", "validate"}, tt.args...)...)
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("exit error %v, want exit 0", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("exit error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWithoutARootTheNotRunningHintNamesRootNotRun(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(wire.EnvRoot, "")
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
