package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ProbeRecipe is a recipe running test/ipcprobe (a component that tries the
// checks listed in its configuration and records each outcome) with config
// (YAML, indented four spaces) as its DefaultConfiguration, in its Run step.
func ProbeRecipe(t testing.TB, name, config string) string {
	t.Helper()
	return ProbeRecipeIn(t, name, "Run", config)
}

// ProbeRecipeIn is ProbeRecipe with the probe in step (Run or Startup).
// The step interpolates /checks (into PROBE_CHECKS, which the probe does
// not read), so a deployment that changes the checks restarts the probe,
// as Greengrass restarts a component when a configuration value its
// lifecycle interpolates changes; other configuration changes reach the
// running probe as events.
func ProbeRecipeIn(t testing.TB, name, step, config string) string {
	t.Helper()
	probe := Tool(t, "./test/ipcprobe")
	arg := ""
	if step == "Startup" {
		arg = " startup"
	}
	return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
%s
Manifests:
  - Lifecycle:
      %s:
        Script: exec %s%s
        Setenv:
          PROBE_CHECKS: "{configuration:/checks}"
`, name, config, step, probe, arg)
}

// ProbeResult is the outcome of one ipcprobe check: OK, or refused with
// Code (PermissionViolation for a broker refusal) and Message.
type ProbeResult struct {
	Name    string          `json:"name"`
	OK      bool            `json:"ok"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Reply   json.RawMessage `json:"reply"`
}

// ProbeResults waits until the probe of component has written the results
// of its checks (at least want of them; the probe writes them all at once)
// and returns them by check name.
func (n *Nucleus) ProbeResults(component string, want int) map[string]ProbeResult {
	n.t.Helper()
	path := filepath.Join(n.Root, "work", component, "results.jsonl")
	out := map[string]ProbeResult{}
	Eventually(n.t, 30*time.Second, component+" probe results", func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r ProbeResult
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return err
			}
			out[r.Name] = r
		}
		if len(out) < want {
			return fmt.Errorf("%d of %d results", len(out), want)
		}
		return nil
	})
	return out
}
