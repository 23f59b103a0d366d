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

// interpRecipe keeps recipe variables in its configuration; its Run step
// writes what {configuration:…} gives for them.
const interpRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Interpolated
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    dataDir: "{work:path}/data"
    thing: "{iot:thingName}"
Manifests:
  - Lifecycle:
      Run: "echo '{configuration:/dataDir} {configuration:/thing}' > {work:path}/seen.txt; exec sleep 300"
`

func TestInterpolateComponentConfigurationFlagExpandsRecipeVariablesInConfiguration(t *testing.T) {
	recipes := harness.WriteRecipes(t, map[string]string{"interpolated.yaml": interpRecipe})
	tests := []struct {
		name string
		args []string
		want func(root string) string
	}{
		{"off by default, as in Greengrass", nil, func(string) string { return "{work:path}/data {iot:thingName}" }},
		{"on with --interpolate-component-configuration", []string{"--interpolate-component-configuration"},
			func(root string) string {
				return filepath.Join(root, "work", "test.Interpolated", "data") + " test-thing"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := harness.Start(t, recipes, "", tt.args...)
			n.WaitState("test.Interpolated", 30*time.Second, "RUNNING")
			seen := filepath.Join(n.Root, "work", "test.Interpolated", "seen.txt")
			want := tt.want(n.Root)
			harness.Eventually(t, 15*time.Second, "the component writes what its configuration says", func() error {
				data, err := os.ReadFile(seen)
				if err != nil {
					return err
				}
				if got := strings.TrimSpace(string(data)); got != want {
					return fmt.Errorf("seen.txt says %q, want %q", got, want)
				}
				return nil
			})
		})
	}
}
