package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/test/harness"
)

// helloRecipe is component name at version, running until stopped.
func helloRecipe(name, version string) string {
	return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "%s"
Manifests:
  - Lifecycle:
      Run: exec sleep 300
`, name, version)
}

// writeFile writes text (leading newlines dropped) to path, creating its folder.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.TrimLeft(text, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gitIn runs git in repo with a fixed identity and no user or system
// configuration, and returns its trimmed output.
func gitIn(t *testing.T, repo string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Sward Test", "GIT_AUTHOR_EMAIL=test@sward.invalid",
		"GIT_COMMITTER_NAME=Sward Test", "GIT_COMMITTER_EMAIL=test@sward.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// listDeployments reads `sward deployment list -o json`.
func listDeployments(t *testing.T, n *harness.Nucleus) []ddoc.Status {
	t.Helper()
	out, err := n.CLI("deployment", "list", "-o", "json")
	if err != nil {
		t.Fatalf("deployment list: %v\n%s", err, out)
	}
	var list []ddoc.Status
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("deployment list -o json is not a list of statuses: %v\n%s", err, out)
	}
	return list
}

// waitDeployment polls the deployment list until match finds one that is
// terminal, and returns it.
func waitDeployment(t *testing.T, n *harness.Nucleus, what string, match func(ddoc.Status) bool) ddoc.Status {
	t.Helper()
	c := n.Client()
	var found ddoc.Status
	harness.Eventually(t, 30*time.Second, what, func() error {
		list, err := c.Deployments(context.Background())
		if err != nil {
			return err
		}
		for _, st := range list {
			if match(st) && st.State.Terminal() {
				found = st
				return nil
			}
		}
		return fmt.Errorf("deployments: %+v", list)
	})
	return found
}

func TestGitDeploysEachCommitAndNeverUncommittedOrUntrackedRecipes(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		// make test installs git; only a hand-run go test can get here.
		t.Fatalf("git is not installed (apt-get install git): %v", err)
	}
	repo := t.TempDir()
	gitIn(t, repo, "init", "-b", "main")
	recipe := filepath.Join(repo, "recipes", "hello.yaml")
	writeFile(t, recipe, helloRecipe("test.Hello", "1.0.0"))
	gitIn(t, repo, "add", "recipes")
	gitIn(t, repo, "commit", "-m", "test.Hello 1.0.0")
	first := gitIn(t, repo, "rev-parse", "HEAD")

	n := harness.Start(t, "", "", "--git", repo)
	waitDeployment(t, n, "the commit is deployed", func(st ddoc.Status) bool { return st.CommitID == first })
	list := listDeployments(t, n)
	if len(list) != 1 || list[0].Group != "LOCAL_GIT" || list[0].CommitID != first || list[0].State != ddoc.Succeeded {
		t.Fatalf("deployment list -o json: want one SUCCEEDED LOCAL_GIT deployment of commit %s, got %+v", first, list)
	}
	hello := n.WaitState("test.Hello", 20*time.Second, "RUNNING")
	if hello.Version != "1.0.0" {
		t.Fatalf("test.Hello runs %s, want the committed 1.0.0", hello.Version)
	}

	// A change in the work tree and an untracked recipe are not commits.
	writeFile(t, recipe, helloRecipe("test.Hello", "1.1.0"))
	writeFile(t, filepath.Join(repo, "recipes", "untracked.yaml"), helloRecipe("test.Untracked", "1.0.0"))
	time.Sleep(2 * time.Second) // two polls of the branch, in which a wrong deployment would show
	if got := listDeployments(t, n); len(got) != 1 {
		t.Fatalf("uncommitted changes were deployed: %+v", got)
	}
	if got := n.WaitState("test.Hello", time.Second, "RUNNING"); got.Version != "1.0.0" || got.PID != hello.PID {
		t.Fatalf("test.Hello changed without a commit: %s pid %d, was 1.0.0 pid %d", got.Version, got.PID, hello.PID)
	}

	// Committing the tracked file deploys it; the untracked one stays out.
	gitIn(t, repo, "commit", "-am", "test.Hello 1.1.0")
	second := gitIn(t, repo, "rev-parse", "HEAD")
	st := waitDeployment(t, n, "the second commit is deployed", func(st ddoc.Status) bool { return st.CommitID == second })
	if st.Group != "LOCAL_GIT" || st.State != ddoc.Succeeded {
		t.Fatalf("the deployment of commit %s: %s %s: %s", second, st.Group, st.State, st.Reason)
	}
	if got := n.WaitState("test.Hello", 20*time.Second, "RUNNING"); got.Version != "1.1.0" {
		t.Fatalf("after the commit test.Hello runs %s, want 1.1.0", got.Version)
	}
	comps, err := n.Client().Components(context.Background())
	if err != nil || len(comps) != 1 {
		t.Fatalf("want only test.Hello deployed, never the untracked test.Untracked: %+v (err %v)", comps, err)
	}
	if got := listDeployments(t, n); len(got) != 2 {
		t.Fatalf("want one deployment per commit, got %+v", got)
	}
}

func TestEditedRecipesFolderRedeploysAndAnInvalidEditKeepsTheLastGoodSet(t *testing.T) {
	dir := harness.WriteRecipes(t, map[string]string{"hello.yaml": helloRecipe("test.Hello", "1.0.0")})
	n := harness.Start(t, dir, "")
	if got := n.WaitState("test.Hello", 20*time.Second, "RUNNING"); got.Version != "1.0.0" {
		t.Fatalf("test.Hello runs %s, want 1.0.0", got.Version)
	}

	writeFile(t, filepath.Join(dir, "hello.yaml"), helloRecipe("test.Hello", "1.1.0"))
	var good ddoc.Status
	c := n.Client()
	harness.Eventually(t, 30*time.Second, "the edited folder is redeployed", func() error {
		list, err := c.Deployments(context.Background())
		if err != nil {
			return err
		}
		if len(list) != 2 {
			return fmt.Errorf("deployments: %+v", list)
		}
		good = list[1]
		if good.Group != "LOCAL_FOLDER" || good.State != ddoc.Succeeded {
			return fmt.Errorf("the redeployment is %s %s (%s)", good.Group, good.State, good.Reason)
		}
		return nil
	})
	if len(good.Components) != 1 || good.Components[0].PreviousVersion != "1.0.0" || good.Components[0].Version != "1.1.0" {
		t.Fatalf("the redeployment's outcome: want test.Hello 1.0.0 → 1.1.0, got %+v", good.Components)
	}
	running := n.WaitState("test.Hello", 20*time.Second, "RUNNING")
	if running.Version != "1.1.0" {
		t.Fatalf("after the edit test.Hello runs %s, want 1.1.0", running.Version)
	}

	writeFile(t, filepath.Join(dir, "hello.yaml"), strings.Replace(helloRecipe("test.Hello", "1.1.0"), `"1.1.0"`, `"not-a-version"`, 1))
	refused := waitDeployment(t, n, "the invalid edit is a FAILED deployment", func(st ddoc.Status) bool {
		return st.DeploymentID != good.DeploymentID && st.CreatedAt.After(good.CreatedAt)
	})
	if refused.Group != "LOCAL_FOLDER" || refused.State != ddoc.Failed || !strings.Contains(refused.Reason, "hello.yaml") {
		t.Fatalf("want a FAILED LOCAL_FOLDER deployment naming hello.yaml, got %s %s: %s", refused.Group, refused.State, refused.Reason)
	}
	if got := n.WaitState("test.Hello", time.Second, "RUNNING"); got.Version != "1.1.0" || got.PID != running.PID {
		t.Fatalf("the invalid edit disturbed the last good set: test.Hello %s pid %d, was 1.1.0 pid %d", got.Version, got.PID, running.PID)
	}
}
