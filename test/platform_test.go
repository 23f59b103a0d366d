package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// npuRecipe selects its manifest on a custom platform attribute that only
// --platform declares, next to the detected os.
const npuRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Accelerated
ComponentVersion: "1.0.0"
Manifests:
  - Platform: {os: linux, npu: rknn}
    Lifecycle:
      Run: "echo npu > {work:path}/manifest.txt; exec sleep 300"
  - Platform: {os: linux, npu: "*"}
    Lifecycle:
      Run: "echo cpu > {work:path}/manifest.txt; exec sleep 300"
`

func TestRunPlatformAddsAnAttributeToTheDetectedOnes(t *testing.T) {
	recipes := harness.WriteRecipes(t, map[string]string{"accelerated.yaml": npuRecipe})
	n := harness.Start(t, recipes, "", "--platform", "npu=rknn")
	n.WaitState("test.Accelerated", 30*time.Second, "RUNNING")
	harness.Eventually(t, 15*time.Second, "the npu manifest runs", func() error {
		data, err := os.ReadFile(filepath.Join(n.Root, "work", "test.Accelerated", "manifest.txt"))
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(data)); got != "npu" {
			return fmt.Errorf("manifest.txt says %q, want npu", got)
		}
		return nil
	})
}
