package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The CLI synth is shared by the cfn-lint test and the moto deploy test.
var (
	assemblyOnce sync.Once
	assemblyDir  string
	assemblyErr  string
)

// synthAssembly runs the app the way a user does, through the npm-pinned CDK
// CLI from the repository root (cdk.json: `go run ./infra`), into a temporary
// cloud assembly, once per test binary. It uses the Lambda builds in
// dist/lambdas when `make lambdas` made all three (as `make infra` does
// first), else the placeholders of TestMain, saying so.
func synthAssembly(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	if _, err := os.Stat(cdk); err != nil {
		t.Fatalf("the pinned CDK CLI is not installed (%v): `make test` runs `npm ci` first; by hand, run `npm ci` at the repository root", err)
	}
	assemblyOnce.Do(func() {
		dist := filepath.Join(root, defaultLambdaDist)
		if err := checkLambdaDist(dist); err != nil {
			t.Logf("synthesizing with placeholder Lambdas: %v", err)
			dist = placeholderDist
		}
		out, err := os.MkdirTemp("", "sward-cdk-out-")
		if err != nil {
			assemblyErr = err.Error()
			return
		}
		assemblyDir = out
		// With a GitHub repository, so that the publisher role is linted
		// and deployed too; trusting an existing OIDC provider, since
		// moto's CloudFormation has no AWS::IAM::OIDCProvider (the
		// provider is linted in the configured template below).
		synth := exec.Command(cdk, "synth", "--quiet", "--no-notices", "--output", out, "-c", contextLambdaDist+"="+dist,
			"-c", contextGitHubRepository+"=sward-iot/sward",
			"-c", contextGitHubOIDCProvider+"=arn:aws:iam::"+motoAccount+":oidc-provider/"+githubOIDCHost)
		synth.Dir = root
		synth.Env = cdkEnv(nil)
		if b, err := synth.CombinedOutput(); err != nil {
			assemblyErr = "cdk synth: " + err.Error() + "\n" + string(b)
		}
	})
	if assemblyErr != "" {
		t.Fatal(assemblyErr)
	}
	return assemblyDir
}

// cdkEnv is the environment for the CDK CLI: this one without any AWS_ or
// CDK_ variable (no real account is ever reached by a test), plus extra.
func cdkEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "CDK_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CDK_DISABLE_CLI_TELEMETRY=true",
		"CDK_DISABLE_VERSION_CHECK=true",
		// Node 20 still runs the CDK; the banner only clutters test output.
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1",
	)
	return append(env, extra...)
}

// TestCDKSynthTemplatesPassCfnLint lints what `cdk synth` wrote. cfn-lint
// exits non-zero on errors and on warnings alike, so this passes only with
// neither; the one warning the CDK's own constructs cause (W3005 on the
// Lambdas) is suppressed on those resources, with the reason, in functions.go.
func TestCDKSynthTemplatesPassCfnLint(t *testing.T) {
	_, configured := templates(t)
	out := synthAssembly(t)
	cfnLint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is not on PATH (%v): `make tools` installs it (pip install cfn-lint)", err)
	}
	templates, err := filepath.Glob(filepath.Join(out, "*.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(templates) != 1 || filepath.Base(templates[0]) != cloudStackName+".template.json" {
		t.Fatalf("cdk synth wrote %v, want only %s.template.json", templates, cloudStackName)
	}
	// The assertion tests' configured stack too: every context value set,
	// the OIDC provider created.
	b, err := json.MarshalIndent(configured.ToJSON(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	configuredFile := filepath.Join(t.TempDir(), "TestConfigured.template.json")
	if err := os.WriteFile(configuredFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	templates = append(templates, configuredFile)
	lint := exec.Command(cfnLint, templates...)
	if b, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", strings.Join(templates, " "), err, b)
	}
}
