package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/test/harness"
)

func TestADeploymentCannotCopyAFileOutsideItsFoldersIntoTheStore(t *testing.T) {
	secret := "/etc/shadow" // readable by a nucleus running as root, by no component
	if _, err := os.Stat(secret); err != nil {
		secret = "/etc/passwd"
	}
	n := harness.Start(t, "", "")
	dir := harness.WriteRecipes(t, map[string]string{"steal.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Steal
ComponentVersion: "1.0.0"
Manifests:
  - Artifacts:
      - URI: file:` + secret + `
        Permission: {Read: ALL}
    Lifecycle:
      Run: cat {artifacts:path}/` + filepath.Base(secret) + `; sleep 600
`})
	out, err := n.CLI("deployment", "create", "--wait", "--recipeDir", dir, "--merge", "com.example.Steal=1.0.0")
	if err == nil {
		t.Fatalf("the deployment succeeded:\n%s", out)
	}
	status, _ := n.CLI("deployment", "list")
	for _, want := range []string{"Artifacts[0] file:" + secret, "outside " + dir, "put the file beside the recipe or in the artifact folder"} {
		if !strings.Contains(out+status+n.Output(), want) {
			t.Errorf("the refusal does not say %q:\n%s\n%s", want, out, status)
		}
	}
	stored, _ := filepath.Glob(filepath.Join(n.Root, "packages", "artifacts", "com.example.Steal", "*", "*"))
	if len(stored) != 0 {
		t.Errorf("the store holds %v", stored)
	}
}
