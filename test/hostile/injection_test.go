package hostile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// injectorRecipe runs test/ipcprobe, which sets the component's own
// configuration key message to payload over IPC UpdateConfiguration; its
// Install step runs as root and interpolates that key. Its Run step
// interpolates /unrelated, so a deployment that merges that key restarts
// the component and runs Install again (Greengrass restarts only for
// configuration the lifecycle interpolates).
func injectorRecipe(t *testing.T, payload string) string {
	probe := harness.Tool(t, "./test/ipcprobe")
	body, _ := json.Marshal(map[string]any{"valueToMerge": map[string]any{"message": payload}})
	return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: hostile.Injector
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    message: hello
    checks:
      - {name: inject, call: UpdateConfiguration, body: %s}
Manifests:
  - Lifecycle:
      Install:
        RequiresPrivilege: true
        Script: echo {configuration:/message} >> {work:path}/install.log
      Run:
        Script: exec %s
        Setenv: {UNRELATED: "{configuration:/unrelated}"}
`, body, probe)
}

func TestAComponentsOwnConfigurationNeverReachesItsPrivilegedStep(t *testing.T) {
	mustBeRoot(t)
	marker := filepath.Join(t.TempDir(), "p")
	payload := "x; id > " + marker + "; echo"
	dir := harness.WriteRecipes(t, map[string]string{"injector.yaml": injectorRecipe(t, payload)})
	n := harness.Start(t, dir, "")
	work := filepath.Join(n.Root, "work", "hostile.Injector")
	harness.Eventually(t, 30*time.Second, "the component set its own configuration over IPC", func() error {
		b, err := os.ReadFile(filepath.Join(work, "results.jsonl"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), `"name":"inject","ok":true`) {
			return harness.Permanent(fmt.Errorf("UpdateConfiguration was not accepted: %s", b))
		}
		return nil
	})
	if err := os.Remove(filepath.Join(work, "results.jsonl")); err != nil {
		t.Fatal(err)
	}

	out, err := n.CLI("deployment", "create", "--update-config", `{"hostile.Injector":{"MERGE":{"unrelated":1}}}`, "--wait")
	if err != nil {
		t.Fatalf("unrelated deployment: %v\n%s", err, out)
	}
	var lines []string
	harness.Eventually(t, 30*time.Second, "the privileged Install ran again after the deployment", func() error {
		if lines = installLines(t, filepath.Join(work, "install.log")); len(lines) < 2 {
			return fmt.Errorf("install.log: %q", lines)
		}
		return nil
	})
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the injected command ran as root: %s", b)
	}
	for _, l := range lines {
		if l != "hello" {
			t.Fatalf("the privileged Install printed %q, not the deployed value hello (install.log %q)", l, lines)
		}
	}
}

func installLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
