package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCDKSynthTemplatesPassCfnLint runs the app the way a user does, through
// the npm-pinned CDK CLI from the repository root (cdk.json: `go run ./infra`),
// then lints every synthesized template with cfn-lint. It needs `npm ci` at
// the repository root and cfn-lint on PATH: without them it skips on a
// developer machine and fails in CI (CI set), where both must be present.
func TestCDKSynthTemplatesPassCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes through the CDK CLI (tens of seconds); skipped with -short")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		requireInCI(t, "the pinned CDK CLI is not installed (%v): run `npm ci` at the repository root", err)
	}
	cfnLint, err := exec.LookPath("cfn-lint")
	if err != nil {
		requireInCI(t, "cfn-lint is not on PATH (%v): install it with `pip install cfn-lint`", err)
	}

	out := t.TempDir()
	synth := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--output", out)
	synth.Dir = root
	synth.Env = append(os.Environ(),
		"CDK_DISABLE_CLI_TELEMETRY=true",
		"CDK_DISABLE_VERSION_CHECK=true",
		// Node 20 still runs the CDK; the banner only clutters test output.
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1",
	)
	if b, err := synth.CombinedOutput(); err != nil {
		t.Fatalf("cdk synth: %v\n%s", err, b)
	}

	templates, err := filepath.Glob(filepath.Join(out, "*.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) == 0 {
		t.Fatalf("cdk synth wrote no *.template.json to %s", out)
	}
	if !containsBase(templates, "SwardArtifacts.template.json") {
		t.Errorf("cdk synth wrote %v, want SwardArtifacts.template.json among them", templates)
	}
	lint := exec.Command(cfnLint, templates...)
	if b, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", strings.Join(templates, " "), err, b)
	}
}

// requireInCI fails t when running in CI and skips it elsewhere.
func requireInCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func containsBase(paths []string, base string) bool {
	for _, p := range paths {
		if filepath.Base(p) == base {
			return true
		}
	}
	return false
}
