package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/recipe"
)

func TestTargetPlatformUsesGreengrassArchitectureNames(t *testing.T) {
	tests := []struct{ goos, goarch, wantArch string }{
		{"linux", "amd64", "amd64"},
		{"linux", "arm64", "aarch64"},
		{"linux", "arm", "arm"},
		{"linux", "386", "x86"},
		{"linux", "riscv64", "riscv64"},
	}
	for _, tt := range tests {
		got := TargetPlatform(tt.goos, tt.goarch)
		if got[recipe.KeyOS] != tt.goos || got[recipe.KeyArchitecture] != tt.wantArch {
			t.Errorf("TargetPlatform(%s, %s) = %v, want architecture %s", tt.goos, tt.goarch, got, tt.wantArch)
		}
	}
}

// fixtures writes the test's recipes folder: each file path maps to its
// content. It lives outside the repository, because the nucleus loads every
// recipe under recipes/, so each component gets a go.mod of its own.
func fixtures(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const helloMain = "package main\n\nfunc main() { println(\"hello\") }\n"

var okRecipes = map[string]string{
	"com.example.Hello/go.mod":     "module example.com/hello\n\ngo 1.22\n",
	"com.example.Hello/main.go":    helloMain,
	"com.example.Hello/hello.conf": "greeting=hello\n",
	"com.example.Hello/recipe.yaml": `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Hello
ComponentVersion: "0.1.0"
Manifests:
  - Platform: {os: windows}
    Artifacts:
      - URI: s3://b/com.example.Hello/0.1.0/hello.exe
  - Platform: {os: linux, architecture: aarch64}
    Lifecycle:
      Run: "{artifacts:path}/hello-arm"
    Artifacts:
      - URI: s3://b/com.example.Hello/0.1.0/hello-arm
        Permission: {Execute: OWNER}
      - URI: s3://b/com.example.Hello/0.1.0/hello.conf
  - Platform: {os: linux}
    Lifecycle:
      Run: "{artifacts:path}/hello"
    Artifacts:
      - URI: s3://b/com.example.Hello/0.1.0/hello
        Permission: {Execute: OWNER}
      - URI: s3://b/com.example.Hello/0.1.0/hello.conf
`,
	"com.example.Script/run.sh": "echo hi\n",
	"com.example.Script/recipe.yaml": `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Script
ComponentVersion: "2.0.0"
Manifests:
  - Lifecycle:
      Run: sh {artifacts:path}/run.sh
    Artifacts:
      - URI: s3://b/com.example.Script/2.0.0/run.sh
`,
	"com.example.NoSources/recipe.yaml": `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.NoSources
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: echo no binary
`,
}

var ambiguousRecipes = map[string]string{
	"com.example.Two/go.mod":  "module example.com/two\n\ngo 1.22\n",
	"com.example.Two/main.go": helloMain,
	"com.example.Two/recipe.yaml": `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Two
ComponentVersion: "1.0.0"
Manifests:
  - Artifacts:
      - URI: s3://b/com.example.Two/1.0.0/one
      - URI: s3://b/com.example.Two/1.0.0/two
`,
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The manifest for the target platform decides the artifact names: on
// linux/arm64 the binary is hello-arm, and hello.conf is copied from the
// component folder. A script component's artifacts are copied; a recipe with
// neither Go sources nor artifacts is skipped.
func TestBuildLaysOutArtifactsLikeGreengrassCLI(t *testing.T) {
	out := t.TempDir()
	n, err := Build(Options{Recipes: fixtures(t, okRecipes), Out: out, GOOS: "linux", GOARCH: "arm64", Go: "go"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("built %d components, want 2 (Hello built, Script copied; NoSources has nothing)", n)
	}
	if b, err := os.ReadFile(filepath.Join(out, "com.example.Script", "2.0.0", "run.sh")); err != nil || string(b) != "echo hi\n" {
		t.Errorf("script artifact = %q, %v; want a copy of run.sh", b, err)
	}
	dir := filepath.Join(out, "com.example.Hello", "0.1.0")
	fi, err := os.Stat(filepath.Join(dir, "hello-arm"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("binary hello-arm: %v, mode %v; want an executable", err, fi)
	}
	if conf, err := os.ReadFile(filepath.Join(dir, "hello.conf")); err != nil || string(conf) != "greeting=hello\n" {
		t.Errorf("hello.conf = %q, %v; want a copy of the folder's file", conf, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%s holds %d files, want hello-arm and hello.conf", dir, len(entries))
	}
	if _, err := os.Stat(filepath.Join(out, "com.example.NoSources")); !os.IsNotExist(err) {
		t.Errorf("a component without sources or artifacts got an artifact folder: %v", err)
	}
}

func TestBuildRefusesARecipeWithoutExactlyOneBinaryArtifact(t *testing.T) {
	_, err := Build(Options{Recipes: fixtures(t, ambiguousRecipes), Out: t.TempDir(), GOOS: "linux", GOARCH: "amd64", Go: "go"}, quiet)
	if err == nil || !strings.Contains(err.Error(), "com.example.Two@1.0.0") || !strings.Contains(err.Error(), "found 2: one, two") {
		t.Fatalf("Build() = %v, want an error naming the component and its two candidate binaries", err)
	}
}

func TestBuildNeedsRecipes(t *testing.T) {
	if _, err := Build(Options{Recipes: t.TempDir(), Out: t.TempDir(), Go: "go"}, quiet); err == nil {
		t.Fatal("Build() of a folder without recipes succeeded, want an error")
	}
}
