package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cdkJSONContext is the "context" block of the repository's cdk.json: the
// assertion tests build their apps with it, so that they synthesize what
// `cdk synth` does, feature flags included.
func cdkJSONContext(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Context map[string]any }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return doc.Context
}

// recommendedFeatureFlags reads recommended-feature-flags.json, what `cdk
// init` writes into a new project's cdk.json, from the aws-cdk-lib package
// that go.mod's aws-cdk-go module embeds.
func recommendedFeatureFlags(t *testing.T) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/aws/aws-cdk-go/awscdk/v2").Output()
	if err != nil {
		t.Fatalf("go list -m awscdk: %v", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	f, err := os.Open(filepath.Join(dir, "jsii", "aws-cdk-lib-"+strings.TrimPrefix(version, "v")+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("recommended-feature-flags.json not found in aws-cdk-lib %s: %v", version, err)
		}
		if h.Name == "package/recommended-feature-flags.json" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			var flags map[string]any
			if err := json.Unmarshal(b, &flags); err != nil {
				t.Fatal(err)
			}
			return flags
		}
	}
}

func TestCdkJSONCarriesTheRecommendedFeatureFlagsOfTheCDKInGoMod(t *testing.T) {
	flags := recommendedFeatureFlags(t)
	ctx := cdkJSONContext(t)
	if len(flags) < 50 {
		t.Fatalf("only %d recommended flags read; the package layout changed", len(flags))
	}
	for name, want := range flags {
		got, ok := ctx[name]
		switch {
		case !ok:
			t.Errorf("cdk.json lacks feature flag %s (recommended: %v); copy recommended-feature-flags.json of aws-cdk-lib into cdk.json's context", name, want)
		case !reflect.DeepEqual(got, want):
			t.Errorf("cdk.json sets %s = %v, recommended %v", name, got, want)
		}
	}
	for name := range ctx {
		if _, ok := flags[name]; !ok && strings.HasPrefix(name, "@aws-cdk") {
			t.Errorf("cdk.json sets %s, which aws-cdk-lib no longer recommends: remove it", name)
		}
	}
}
