package recipes

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/recipe"
)

func loadSamples(t *testing.T) map[string]*recipe.Recipe {
	t.Helper()
	rs, err := recipe.LoadDir(".")
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	byName := map[string]*recipe.Recipe{}
	for _, r := range rs {
		byName[r.Name] = r
	}
	return byName
}

var samples = []string{
	"com.sward.samples.AlertRecorder",
	"com.sward.samples.AnomalyDetector",
	"com.sward.samples.DeviceInfo",
	"com.sward.samples.SensorSimulator",
}

func TestRecipesParseCleanlyAndRunOnBothBoards(t *testing.T) {
	byName := loadSamples(t)
	for _, name := range samples {
		if byName[name] == nil {
			t.Errorf("sample %s is missing from recipes/", name)
		}
	}
	for name, r := range byName {
		if len(r.Warnings) > 0 {
			t.Errorf("%s: ignored fields (typos?): %v", r.ID(), r.Warnings)
		}
		if want := filepath.Join(name, "recipe.yaml"); r.File != want {
			t.Errorf("%s is in %s, want %s: the folder is named after the component", r.ID(), r.File, want)
		}
		for _, arch := range []string{"amd64", "aarch64"} {
			if _, err := r.Select(recipe.Platform{"os": "linux", "architecture": arch}); err != nil {
				t.Errorf("%s on linux/%s: %v", r.ID(), arch, err)
			}
		}
	}
}

func TestSamplesShipOneExecutableFromTheArtifactBucket(t *testing.T) {
	byName := loadSamples(t)
	for _, name := range samples {
		r := byName[name]
		if r == nil {
			continue // reported by TestRecipesParseCleanlyAndRunOnBothBoards
		}
		if r.Version != "1.0.0" {
			t.Errorf("%s: version %s, want 1.0.0", name, r.Version)
		}
		sel, err := r.Select(recipe.Platform{"os": "linux", "architecture": "aarch64"})
		if err != nil {
			continue
		}
		if len(sel.Artifacts) != 1 {
			t.Fatalf("%s: %d artifacts, want the one binary", r.ID(), len(sel.Artifacts))
		}
		a := sel.Artifacts[0]
		wantPrefix := "s3://sward-artifacts/" + r.Name + "/" + r.Version + "/"
		if !strings.HasPrefix(a.URI, wantPrefix) || a.Permission.Execute != recipe.PermOwner {
			t.Errorf("%s: artifact %s, execute %s; want under %s, execute OWNER", r.ID(), a.URI, a.Permission.Execute, wantPrefix)
		}
		if !strings.Contains(stepScripts(sel.Lifecycle), "{artifacts:path}/"+a.FileName()) {
			t.Errorf("%s: no step runs {artifacts:path}/%s", r.ID(), a.FileName())
		}
	}
}

func stepScripts(l recipe.Lifecycle) string {
	var b strings.Builder
	for _, s := range l.Steps() {
		b.WriteString(s.Step.Script + "\n")
	}
	return b.String()
}

var configVar = regexp.MustCompile(`\{configuration:([^}]*)\}`)

// A mistyped {configuration:/pointer} is left as written by the nucleus and
// reaches the binary as a literal; every one must exist in the defaults.
func TestEveryConfigurationVariableHasADefault(t *testing.T) {
	for _, r := range loadSamples(t) {
		sel, err := r.Select(recipe.Platform{"os": "linux", "architecture": "aarch64"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range configVar.FindAllStringSubmatch(stepScripts(sel.Lifecycle), -1) {
			if _, ok := recipe.Pointer(r.DefaultConfiguration, m[1]); !ok {
				t.Errorf("%s uses %s, which DefaultConfiguration lacks", r.ID(), m[0])
			}
		}
	}
}

func TestDependenciesAreSatisfiedBySamplesInThisFolder(t *testing.T) {
	byName := loadSamples(t)
	types := map[recipe.DependencyType]bool{}
	for _, r := range byName {
		for dep, d := range r.Dependencies {
			target, ok := byName[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is not in recipes/", r.ID(), dep)
				continue
			}
			if !d.Allows(target.SemVer()) {
				t.Errorf("%s requires %s %s, but recipes/ has %s", r.ID(), dep, d.VersionRequirement, target.Version)
			}
			types[d.Type] = true
		}
	}
	if !types[recipe.Hard] || !types[recipe.Soft] {
		t.Errorf("dependency types used: %v, want both HARD and SOFT", types)
	}
	if d := byName["com.sward.samples.AlertRecorder"].Dependencies["com.sward.samples.AnomalyDetector"]; d.Type != recipe.Hard {
		t.Errorf("AlertRecorder -> AnomalyDetector is %q, want HARD", d.Type)
	}
}

// The samples double as a tour of the recipe format; this keeps them one.
func TestSamplesExerciseTheRecipeFeatures(t *testing.T) {
	have := map[string]bool{}
	for _, r := range loadSamples(t) {
		for _, v := range r.DefaultConfiguration {
			if _, ok := v.(map[string]any); ok {
				have["nested DefaultConfiguration"] = true
			}
		}
		for _, m := range r.Manifests {
			for _, v := range m.Platform {
				have["platform regex"] = have["platform regex"] || strings.HasPrefix(v, "/")
				have["platform *"] = have["platform *"] || v == "*"
			}
			l := m.Lifecycle
			if l == nil {
				continue
			}
			have["lifecycle Setenv"] = have["lifecycle Setenv"] || len(l.Setenv) > 0
			for _, s := range l.Steps() {
				have[s.Name] = true
				have["step Setenv"] = have["step Setenv"] || len(s.Step.Setenv) > 0
				have["Skipif"] = have["Skipif"] || s.Step.Skipif != nil
				have["Timeout"] = have["Timeout"] || s.Step.Timeout > 0
			}
		}
	}
	for _, f := range []string{"nested DefaultConfiguration", "platform regex", "platform *", "lifecycle Setenv",
		"step Setenv", "Skipif", "Timeout", "Install", "Startup", "Run", "Shutdown", "Recover"} {
		if !have[f] {
			t.Errorf("no sample recipe uses %s", f)
		}
	}
}
