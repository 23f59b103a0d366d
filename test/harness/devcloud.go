package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// lambdaNames are the Lambdas the stack declares (the Makefile's LAMBDAS).
var lambdaNames = []string{"telemetry", "release", "deployment-events"}

var (
	templateOnce sync.Once
	templatePath string
	templateErr  error
)

// SynthTemplate synthesizes the SwardCloud stack once per test process with
// the pinned CDK CLI, as `make synth` does but into a temporary folder and
// with placeholder Lambda builds (the template only hashes them), and
// returns the path of SwardCloud.template.json.
func SynthTemplate(t testing.TB) string {
	t.Helper()
	templateOnce.Do(func() {
		root := RepoRoot()
		cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
		if _, err := os.Stat(cdk); err != nil {
			templateErr = fmt.Errorf("the pinned CDK CLI is not installed (%v): `make test` runs `npm ci` first; by hand, run `npm ci` at the repository root", err)
			return
		}
		dir, err := os.MkdirTemp("", "sward-synth-")
		if err != nil {
			templateErr = err
			return
		}
		dist := filepath.Join(dir, "lambdas")
		for _, name := range lambdaNames {
			if err := os.MkdirAll(filepath.Join(dist, name), 0o755); err != nil {
				templateErr = err
				return
			}
			if err := os.WriteFile(filepath.Join(dist, name, "bootstrap"), []byte("#!/bin/sh\n# placeholder for "+name+"\n"), 0o755); err != nil {
				templateErr = err
				return
			}
		}
		out := filepath.Join(dir, "cdk.out")
		cmd := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--output", out, "-c", "lambdaDist="+dist)
		cmd.Dir = root
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "CDK_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "CDK_DISABLE_CLI_TELEMETRY=true", "CDK_DISABLE_VERSION_CHECK=true",
			"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			templateErr = fmt.Errorf("cdk synth: %v\n%s", err, b)
			return
		}
		templatePath = filepath.Join(out, "SwardCloud.template.json")
	})
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	return templatePath
}

// Devcloud is a `devcloud up` process.
type Devcloud struct {
	// Data is its data folder.
	Data string
	// Info is its devcloud.json.
	Info *devcloud.Info
	// Ready is the time from starting the process to reading its
	// devcloud.json (polled every 10 ms): the `devcloud up` → ready figure.
	Ready time.Duration

	bin    string
	cmd    *exec.Cmd
	output *testlog.Buffer
	done   chan struct{}
}

// StartDevcloud runs `devcloud up` (built once per test process) on
// template with a data folder data (a new temporary one when empty), waits
// for its devcloud.json, and stops it with SIGINT at cleanup.
func StartDevcloud(t testing.TB, template, data string, args ...string) *Devcloud {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	d := &Devcloud{Data: data, bin: Tool(t, "./infra/devcloud/cmd/devcloud"), output: &testlog.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(d.bin, append([]string{"up", "--template", template, "--data", data}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.output, d.output
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(90 * time.Second) // moto_server's start on a loaded machine
	for {
		info, err := devcloud.ReadInfo(data)
		if err == nil && info.PID == d.cmd.Process.Pid {
			d.Info, d.Ready = info, time.Since(start)
			return d
		}
		if err != nil && !errors.Is(err, devcloud.ErrNotRunning) {
			t.Fatal(err)
		}
		select {
		case <-d.done:
			t.Fatalf("devcloud up exited before it was ready:\n%s", d.output.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devcloud up not ready after 90 s:\n%s", d.output.String())
		}
	}
}

// Stop sends SIGINT (Ctrl-C) and waits for devcloud to exit; SIGKILL after
// 15 s.
func (d *Devcloud) Stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// Exited reports whether the process ended.
func (d *Devcloud) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Output is what devcloud printed so far.
func (d *Devcloud) Output() string { return d.output.String() }

// Run runs another devcloud command on d's data folder and returns its
// standard output.
func (d *Devcloud) Run(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(d.bin, append(args, "--data", d.Data)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("devcloud %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Kill ends devcloud with SIGKILL, as a crash would: nothing of it runs its
// shutdown. The processes it started (moto_server, the Lambdas' emulators)
// get SIGKILL when it dies; the state of a moto it started comes back from
// its recording at the next `up`.
func (d *Devcloud) Kill() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}
