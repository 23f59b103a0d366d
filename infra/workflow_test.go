package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

const releaseWorkflow = "../.github/workflows/release.yml"

// TestReleaseWorkflowPassesActionlint lints the release workflow with
// actionlint's library: syntax, expressions, the inputs of the actions it
// uses, permissions. (Its shellcheck and pyflakes passes run only when those
// programs are on PATH.)
func TestReleaseWorkflowPassesActionlint(t *testing.T) {
	var out strings.Builder
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(releaseWorkflow, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", releaseWorkflow, e.Line, e.Column, e.Message, e.Kind)
	}
}

// TestActionlintCatchesAMistakeInTheWorkflow checks that the lint above can
// fail: the workflow with a misspelled input of the credentials action.
func TestActionlintCatchesAMistakeInTheWorkflow(t *testing.T) {
	b, err := os.ReadFile(releaseWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "role-to-assume:", "role-to-asume:", 1)
	if broken == string(b) {
		t.Fatal("the workflow no longer has role-to-assume")
	}
	l, err := actionlint.NewLinter(&strings.Builder{}, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(filepath.Base(releaseWorkflow), []byte(broken), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) == 0 {
		t.Fatal("actionlint accepted role-to-asume")
	}
}

// TestReleaseWorkflowPublishesRecipeChangesOnMainWithTheOIDCRole checks what
// the workflow does, beyond being valid: its trigger, its token permission,
// the arm64 build, the role it assumes and the command it runs.
func TestReleaseWorkflowPublishesRecipeChangesOnMainWithTheOIDCRole(t *testing.T) {
	b, err := os.ReadFile(releaseWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On struct {
			Push struct{ Branches, Paths []string }
		}
		Permissions map[string]string
		Jobs        map[string]struct {
			Steps []struct {
				Uses string
				Run  string
				With map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wf.On.Push.Branches, ",") + " " + strings.Join(wf.On.Push.Paths, ","); got != "main recipes/**" {
		t.Errorf("trigger = %s, want pushes to main touching recipes/**", got)
	}
	if wf.Permissions["id-token"] != "write" || wf.Permissions["contents"] != "read" || len(wf.Permissions) != 2 {
		t.Errorf("permissions = %v, want id-token: write and contents: read only", wf.Permissions)
	}
	var steps []string
	for _, s := range wf.Jobs["publish"].Steps {
		switch {
		case strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@"):
			if s.With["role-to-assume"] != "${{ vars.SWARD_PUBLISHER_ROLE_ARN }}" {
				t.Errorf("credentials from %q, want the publisher role", s.With["role-to-assume"])
			}
			steps = append(steps, "credentials")
		case strings.Contains(s.Run, "build-artifacts") && strings.Contains(s.Run, "-goos linux -goarch arm64"):
			steps = append(steps, "arm64 artifacts")
		case strings.Contains(s.Run, "sward publish --stack "+cloudStackName) && strings.Contains(s.Run, "--artifacts build/artifacts"):
			steps = append(steps, "publish")
		}
	}
	if got := strings.Join(steps, " → "); got != "arm64 artifacts → credentials → publish" {
		t.Errorf("steps = %s, want arm64 artifacts → credentials → publish", got)
	}
}
