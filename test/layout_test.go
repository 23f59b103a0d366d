package test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/sward-iot/sward"

// importRules says, per top-level folder, which other top-level folders of the
// repository its packages may import (style.md point 2). infra/ refers to the
// Lambdas by the path of their build output, never by Go import. internal/
// (the test helpers, internal/testutil) is in no folder's list: only _test
// files, whose imports go list leaves out of Deps, and test/ import it; it
// imports nothing but shared/.
var importRules = map[string][]string{
	"internal": {"shared"},
	"shared":   {},
	"edge":     {"shared"},
	"lambdas":  {"shared"},
	"infra":    {"shared"},
	"recipes":  {"shared"},
}

func TestRepositoryHasTheTopLevelLayout(t *testing.T) {
	root := repoRoot(t)
	for _, name := range []string{"infra", "lambdas", "edge", "shared", "recipes", "test",
		"go.mod", "go.sum", "cdk.json", "Makefile", "README.md", ".ci/run"} {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Errorf("top-level %s is missing: %v", name, err)
		}
	}
}

// TestBuildAndRunLeftoversAreIgnored: what builds, tests and the Python
// samples leave in the tree is never offered for a commit.
func TestBuildAndRunLeftoversAreIgnored(t *testing.T) {
	root := repoRoot(t)
	for _, path := range []string{
		"bin/sward",
		"edge/ipc/ipc.test",
		"recipes/com.sward.samples.HealthReporter/__pycache__/health.cpython-311.pyc",
		"test/__pycache__/probe.cpython-313.pyc", // a Python test component anywhere
	} {
		cmd := exec.Command("git", "check-ignore", "--no-index", "--quiet", path)
		cmd.Dir = root
		if err := cmd.Run(); err != nil {
			t.Errorf("%s is not ignored by git (git check-ignore: %v); add a rule to the root .gitignore", path, err)
		}
	}
}

func TestPackagesImportOnlyWhatTheirFolderMay(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		from := topFolder(p.ImportPath)
		allowed, ruled := importRules[from]
		if !ruled {
			continue // test/ may import anything
		}
		checked++
		for _, dep := range p.Deps { // transitive, as go list -deps prints them
			to := topFolder(dep)
			if to == "" || to == from {
				continue
			}
			if !contains(allowed, to) {
				t.Errorf("%s imports %s: %s/ may import only %v of this repository", p.ImportPath, dep, from, allowed)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package of the repository was checked")
	}
}

// topFolder returns the repository's top-level folder of an import path, or ""
// for packages outside the module.
func topFolder(importPath string) string {
	rest, ok := strings.CutPrefix(importPath, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", dir, err)
	}
	return dir
}
