package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

func TestRestartAfterNucleusKill9EndsTheOrphanedComponentProcesses(t *testing.T) {
	recipes := harness.WriteRecipes(t, map[string]string{"forker.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Forker
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: sleep 1000 & echo $! > {work:path}/child.pid; wait
`})
	n := harness.Start(t, recipes, "")
	forker := n.WaitState("test.Forker", 20*time.Second, "RUNNING")
	pidFile := filepath.Join(forker.WorkDir, "child.pid")
	var child int
	harness.Eventually(t, 10*time.Second, "the component wrote its child's pid", func() error {
		data, err := os.ReadFile(pidFile)
		if err != nil {
			return err
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err
	})
	os.Remove(pidFile)

	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("nucleus survived SIGKILL")
	}
	out, err := n.CLI("component", "list")
	if err == nil || !strings.Contains(out, "not running") {
		t.Fatalf("after kill -9, the CLI should say the nucleus is not running: err %v\n%s", err, out)
	}

	again := harness.StartAt(t, n.Root, recipes, "")
	again.WaitState("test.Forker", 20*time.Second, "RUNNING")
	harness.Eventually(t, 10*time.Second, "the orphan of the killed nucleus is gone", func() error {
		if harness.Alive(child) {
			return os.ErrExist
		}
		return nil
	})
}
