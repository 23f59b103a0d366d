package test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/test/harness"
)

// TestMakeDevBringsUpDevcloudProvisionsAThingAndConnectsTheSamples runs
// infra/devcloud/dev.sh, what `make dev` runs after its builds, in a copy of
// the repository's layout holding the test's builds (bin/sward, bin/devcloud,
// the synthesized template, the telemetry Lambda, the sample artifacts): the
// nucleus's link connects, the sample readings reach the telemetry Lambda,
// and SIGTERM stops the nucleus and devcloud.
func TestMakeDevBringsUpDevcloudProvisionsAThingAndConnectsTheSamples(t *testing.T) {
	repo := t.TempDir()
	link := func(target, name string) {
		t.Helper()
		path := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	link(harness.Binary(t), "bin/sward")
	link(harness.Tool(t, "./infra/devcloud/cmd/devcloud"), "bin/devcloud")
	link(harness.SynthTemplate(t), "cdk.out/SwardCloud.template.json")
	link(harness.LambdaDist(t, "telemetry"), "dist/lambdas")
	// Copies, not links: with symbolic links for these two folders the
	// nucleus deployed no component (not looked into further).
	for from, to := range map[string]string{harness.SampleArtifacts(t): "build/artifacts", filepath.Join(harness.RepoRoot(), "recipes"): "recipes"} {
		if err := os.CopyFS(filepath.Join(repo, to), os.DirFS(from)); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(repo, "infra", "devcloud", "dev.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(readFile(t, harness.RepoRoot(), "infra/devcloud/dev.sh")), 0o755); err != nil {
		t.Fatal(err)
	}

	out := &testlog.Buffer{}
	harness.Traversable(t, filepath.Join(repo, ".run"))
	// Free ports, beside other nuclei on the machine.
	cmd := exec.Command("bash", script, "--nats-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(harness.RIE(t))+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}
	})

	root := filepath.Join(repo, ".run", "dev")
	harness.Eventually(t, 3*time.Minute, "the nucleus's IoT Core link connected", func() error {
		select {
		case err := <-done:
			t.Fatalf("dev.sh exited (%v):\n%s", err, out.String())
		default:
		}
		status, err := exec.Command(filepath.Join(repo, "bin", "sward"), "cloud", "status", "--root", root).CombinedOutput()
		if err != nil || !strings.Contains(string(status), "connected since") {
			return fmt.Errorf("sward cloud status: %v\n%s", err, status)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(repo, ".devcloud", "dev1", "config.yaml")); err != nil {
		t.Fatalf("the provisioned thing's config: %v", err)
	}
	harness.Eventually(t, 90*time.Second, "a sample reading taken by the telemetry Lambda", func() error {
		data, err := os.ReadFile(filepath.Join(repo, ".devcloud", "requests.log"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, `msg="lambda invoke" function=SwardCloud-TelemetryFunction`) && strings.Contains(line, "result=ok") {
				return nil
			}
		}
		list, _ := exec.Command(filepath.Join(repo, "bin", "sward"), "component", "list", "--root", root).CombinedOutput()
		return fmt.Errorf("no successful telemetry Lambda invocation in requests.log; its Lambda lines:\n%s\nthe components:\n%s",
			grepLines(string(data), "lambda"), list)
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("dev.sh still running 60 s after SIGTERM:\n%s", out.String())
	}
	for _, want := range []string{"stopping the nucleus", "stopping devcloud"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev.sh did not say %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(repo, ".devcloud", "devcloud.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("devcloud.json still there after dev.sh stopped (devcloud left running?): %v", err)
	}
}
