package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func recipeText(name, version string) string {
	return "RecipeFormatVersion: '2020-01-25'\nComponentName: " + name + "\nComponentVersion: '" + version + "'\nManifests:\n  - Lifecycle:\n      Run: ./r\n"
}

func TestLoadDirFindsRecipesRecursivelyAndSkipsOtherFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a/recipe.yaml":          recipeText("com.example.A", "1.0.0"),
		"b/nested/recipe.yml":    recipeText("com.example.B", "1.0.0"),
		"c.json":                 `{"RecipeFormatVersion":"2020-01-25","ComponentName":"com.example.C","ComponentVersion":"1.0.0","Manifests":[{"Lifecycle":{"Run":"x"}}]}`,
		"a/gdk-config.json":      `{"component": {"com.example.A": {}}}`,
		"ci.yaml":                "steps: [build, test]\n",
		"notes.txt":              recipeText("com.example.Txt", "1.0.0"),
		"broken-but-other.yaml":  "key: [unclosed\n",
		".git/hooks/recipe.yaml": recipeText("com.example.Hidden", "1.0.0"),
	})
	recipes, err := LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	var names []string
	for _, r := range recipes {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "com.example.A,com.example.B,com.example.C" {
		t.Errorf("loaded %s, want A, B and C in path order", got)
	}
}

func TestLoadDirReturnsEveryBadRecipeJoined(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"good.yaml":      recipeText("com.example.Good", "1.0.0"),
		"bad-name.yaml":  recipeText("bad name", "1.0.0"),
		"bad-yaml.yaml":  "RecipeFormatVersion: '2020-01-25'\nComponentName: [unclosed\n",
		"dup/one.yaml":   recipeText("com.example.Dup", "2.0.0"),
		"dup/two.yaml":   recipeText("com.example.Dup", "2.0.0"),
		"huge.yaml":      recipeText("com.example.Huge", "1.0.0") + "# " + strings.Repeat("x", MaxRecipeSize) + "\n",
		"huge-data.json": `{"data": "` + strings.Repeat("x", MaxRecipeSize) + `"}`,
	})
	recipes, err := LoadDir(dir)
	if err == nil {
		t.Fatal("LoadDir accepted a folder with bad recipes")
	}
	for _, want := range []string{
		"bad-name.yaml: ComponentName:",
		"bad-yaml.yaml: invalid YAML",
		"two.yaml: ComponentVersion: component com.example.Dup@2.0.0 is also defined by " + filepath.Join(dir, "dup/one.yaml"),
		"huge.yaml: recipe is",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "huge-data.json") {
		t.Errorf("a large file that is not a recipe must be skipped: %v", err)
	}
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrTooLarge) {
		t.Errorf("joined error must wrap the sentinels: %v", err)
	}
	if len(recipes) != 3 {
		t.Errorf("got %d recipes, want the 3 good ones (good, dup/one, dup/two)", len(recipes))
	}
}

func TestLoadDirReportsAMissingFolder(t *testing.T) {
	if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("got %v, want an error naming the folder", err)
	}
}
