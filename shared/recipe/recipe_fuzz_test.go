package recipe

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that a recipe Parse
// accepts can be selected and interpolated on any platform without panicking.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(filepath.Base(file), data)
		}
	}
	vars := &Vars{
		Config:        map[string]any{"a": []any{"b", map[string]any{"c": 1.5}}},
		ArtifactsPath: "/a", DecompressedPath: "/d", WorkPath: "/w", KernelRootPath: "/k", ThingName: "t",
		Deps: map[string]*Vars{"dep": {Config: map[string]any{}, WorkPath: "/dw"}},
	}
	platforms := []Platform{
		HostPlatform(),
		{},
		{KeyOS: "windows", KeyArchitecture: "x86"},
		{KeyOS: "linux", KeyArchitecture: "arm", KeyArchitectureDetail: "arm71", "custom": "x"},
	}
	f.Fuzz(func(t *testing.T, file string, data []byte) {
		r, err := Parse(file, data)
		if err != nil {
			if r != nil {
				t.Fatalf("Parse returned both a recipe and an error: %v", err)
			}
			return
		}
		_ = r.SemVer()
		_ = r.DependencyNames()
		for _, d := range r.Dependencies {
			d.Allows(r.SemVer())
		}
		for _, p := range platforms {
			s, err := r.Select(p)
			if err != nil {
				continue
			}
			l := s.Lifecycle.Interpolate(vars)
			for _, step := range l.Steps() {
				_ = l.Env(step.Step)
			}
			for _, a := range s.Artifacts {
				_, _ = a.FileName(), a.Unarchived()
			}
		}
	})
}
