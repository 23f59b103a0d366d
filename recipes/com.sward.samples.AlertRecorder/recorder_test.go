package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/recipes/internal/component"
	"github.com/sward-iot/sward/recipes/internal/testbroker"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// childEnv makes the test binary act as the alert-recorder binary when
// `start` launches itself in the background.
const childEnv = "ALERT_RECORDER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(cli(os.Args[1:], component.FromEnv(), os.Stdout))
	}
	os.Exit(m.Run())
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publishAlerts(t *testing.T, url string, sensors ...string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i, s := range sensors {
		alert := fmt.Sprintf("{\n  \"sensorId\": %q,\n  \"metric\": \"vibration\",\n  \"z\": %d\n}", s, 10+i)
		if err := nc.Publish("sward.alerts."+s, []byte(alert)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("sward.alerts.bad", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func entries(t *testing.T, path string) []Entry {
	var out []Entry
	for _, l := range readLines(t, path) {
		var e Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("journal line %q is not an entry: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

func TestRecorderAppendsEveryJSONAlertAsOneLine(t *testing.T) {
	env := testbroker.Start(t)
	o := Options{Subject: "sward.alerts.>", File: filepath.Join(env.WorkPath, "alerts.jsonl"), MaxBytes: 1 << 20, Keep: 1, Env: env}
	svc, err := Start(o, component.Env{}.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	publishAlerts(t, env.NATSURL, "pump-1", "fan-1")
	svc.Shutdown() // drains: every alert received is recorded

	got := entries(t, o.File)
	if len(got) != 2 {
		t.Fatalf("journal has %d entries, want 2 (the non-JSON alert is skipped): %+v", len(got), got)
	}
	for i, want := range []string{"pump-1", "fan-1"} {
		var a struct{ SensorID string }
		if err := json.Unmarshal(got[i].Alert, &a); err != nil || a.SensorID != want || got[i].Subject != "sward.alerts."+want {
			t.Errorf("entry %d = %+v, want the alert of %s", i, got[i], want)
		}
		if got[i].ReceivedAt.IsZero() {
			t.Errorf("entry %d has no receivedAt", i)
		}
	}
}

// The lifecycle as the recipe runs it: Startup's `start` returns once a
// background recorder is subscribed, alerts land in the journal, and
// Shutdown's `stop` ends the recorder and removes its pid file.
func TestStartLaunchesABackgroundRecorderThatStopEnds(t *testing.T) {
	env := testbroker.Start(t)
	t.Setenv(childEnv, "1")
	t.Setenv(wire.EnvNATSURL, env.NATSURL)
	t.Setenv(wire.EnvWorkPath, env.WorkPath)
	pidFile := filepath.Join(env.WorkPath, "alert-recorder.pid")
	journal := filepath.Join(env.WorkPath, "alerts.jsonl")
	stop := func() {
		if code := cli([]string{"stop"}, component.FromEnv(), io.Discard); code != 0 {
			t.Errorf("stop exited %d, want 0", code)
		}
	}
	t.Cleanup(stop) // a failed test must not leave a recorder behind

	// start runs as its own process, as in a Startup step, so that the
	// recorder it leaves behind is not this test's child. Its output goes to
	// a file, as the nucleus hands steps a file descriptor: the recorder
	// keeps it open after start exits.
	out, err := os.CreateTemp(t.TempDir(), "start-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	output := func() string { b, _ := os.ReadFile(out.Name()); return string(b) }
	cmd := exec.Command(os.Args[0], "start")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("start: %v\n%s", err, output())
	}
	pid, ok := runningRecorder(pidFile)
	if !ok {
		t.Fatalf("no running recorder behind %s after start; output:\n%s", pidFile, output())
	}
	if code := cli([]string{"start"}, component.FromEnv(), io.Discard); code != 0 {
		t.Fatalf("a second start exited %d, want 0 (already running)", code)
	}
	if again, _ := runningRecorder(pidFile); again != pid {
		t.Fatalf("a second start replaced recorder %d with %d", pid, again)
	}

	publishAlerts(t, env.NATSURL, "pump-1")
	waitFor(t, "the alert in the journal", func() bool { return len(readLines(t, journal)) == 1 })

	stop()
	if isRecorder(pid, pidFile) {
		t.Fatalf("recorder %d still running after stop", pid)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file after stop: %v, want it removed", err)
	}
}

func TestStopWithoutARecorderRemovesAStalePIDFile(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "alert-recorder.pid")
	// Our own pid: alive, but not a recorder for this pid file, so it
	// must not be signalled.
	if err := os.WriteFile(pidFile, []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := cli([]string{"stop", "-pidfile", pidFile}, component.Env{}, io.Discard); code != 0 {
		t.Fatalf("stop exited %d, want 0", code)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("stale pid file: %v, want it removed", err)
	}
}

func TestCLIRejectsUnknownCommandsAndFlags(t *testing.T) {
	for _, args := range [][]string{nil, {"restart"}, {"run", "-no-such-flag"}} {
		if code := cli(args, component.Env{}, io.Discard); code == 0 {
			t.Errorf("cli(%q) exited 0, want an error", args)
		}
	}
}
