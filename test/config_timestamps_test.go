package test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// TestConfigUpdateTimestampsSurviveNucleusKill9 follows Greengrass's
// UpdateConfiguration rule across a crash: a component updates a key with
// timestamp T2, the nucleus is killed with kill -9 and restarted, and then
// an update of that key with T1 < T2 is refused while T3 > T2 is accepted.
func TestConfigUpdateTimestampsSurviveNucleusKill9(t *testing.T) {
	const name = "com.example.Stamped"
	check := func(check string, ts int64) string {
		return fmt.Sprintf(`{"name":%q,"call":"UpdateConfiguration","body":{"keyPath":["settings"],"valueToMerge":{"shade":%q},"timestamp":%d}}`, check, check, ts)
	}
	n := startLocal(t, map[string]string{name: harness.ProbeRecipeIn(t, name, "Run", "    checks: ["+check("update-t2", 2000)+"]")})
	results := filepath.Join(n.Root, "work", name, "results.jsonl")
	// rerun restarts the probe with checks (a JSON list) and waits for the
	// results of the new run.
	rerun := func(n *harness.Nucleus, checks string, want int) map[string]harness.ProbeResult {
		t.Helper()
		if err := os.Remove(results); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		merge, _ := json.Marshal(map[string]any{name: map[string]any{"MERGE": map[string]any{"checks": json.RawMessage(checks)}}})
		deployOK(t, n, "--update-config", string(merge))
		return n.ProbeResults(name, want)
	}

	if r := n.ProbeResults(name, 1)["update-t2"]; !r.OK {
		t.Fatalf("update at T2 was refused: %s: %s", r.Code, r.Message)
	}
	// Restarted with no checks, the probe does not repeat the T2 update
	// after the crash: only the stored timestamp can refuse T1.
	rerun(n, `[]`, 0)

	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("nucleus survived SIGKILL")
	}
	n = harness.StartAt(t, n.Root, "", "")
	n.WaitState(name, 20*time.Second, "RUNNING")

	got := rerun(n, "["+check("update-t1", 1000)+","+check("update-t3", 3000)+"]", 2)
	checkMatrix(t, name, got, map[string]want{
		"update-t1": refused("FailedUpdateConditionCheckError"),
		"update-t3": allowed,
	})
}
