package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sward-iot/sward/edge/watch"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// gitComponent is the one component of the git repository.
const gitComponent = "perf.Git"

// measureGit times a git deployment: a commit that moves gitComponent from
// 1.0.0 to 1.1.0 → deployment queued (the git watcher's poll), → 1.1.0
// RUNNING. Each run in a new repository and root, its commit at its own
// phase of the watcher's poll interval.
func measureGit(cfg config, work string, rep *report) error {
	if _, err := exec.LookPath("git"); err != nil {
		progress("  git: no git binary on PATH: skipped")
		rep.note("git: not measured, there is no git binary on PATH (sward --git needs it too): install git (apt-get install git)")
		return nil
	}
	queued := rep.add("git_queued_ms", "git deployment: commit → deployment queued", "ms", goal{})
	running := rep.add("git_running_ms", "git deployment: commit → new version RUNNING", "ms", atMost(2000))
	for i := range cfg.runs {
		q, r, err := gitOnce(cfg.sward, work, phase(i, cfg.runs, watch.DefaultGitInterval))
		if err != nil {
			return err
		}
		progress("  git run %d: queued %.1f ms, RUNNING %.1f ms", i+1, ms(q), ms(r))
		queued.samples = append(queued.samples, ms(q))
		running.samples = append(running.samples, ms(r))
	}
	return nil
}

func gitOnce(bin, work string, offset time.Duration) (toQueued, toRunning time.Duration, err error) {
	repo, err := os.MkdirTemp(work, "git-")
	if err != nil {
		return 0, 0, err
	}
	recipe := filepath.Join(repo, "recipes", "perf.yaml")
	if _, err := git(repo, "init", "--quiet", "--initial-branch=main"); err != nil {
		return 0, 0, err
	}
	first, _, err := commitRecipe(repo, recipe, "1.0.0")
	if err != nil {
		return 0, 0, err
	}

	n, err := startNucleus(bin, work, "", "--git", repo)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	// The first commit is running and its deployment over: the nucleus is
	// idle, and the next commit does not queue behind it.
	if _, err := waitDeployment(n, c, time.Now().Add(deployTimeout), func(st ddoc.Status) bool { return st.CommitID == first }); err != nil {
		return 0, 0, err
	}
	time.Sleep(offset)

	second, start, err := commitRecipe(repo, recipe, "1.1.0")
	if err != nil {
		return 0, 0, err
	}
	err = waitUntil(n.process, start.Add(deployTimeout), deployPoll, gitComponent+" 1.1.0 RUNNING",
		func(ctx context.Context) (bool, any, error) {
			comp, err := c.Component(ctx, gitComponent)
			return comp.Version == "1.1.0" && comp.State == "RUNNING", comp, err
		})
	if err != nil {
		return 0, 0, err
	}
	toRunning = time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), deployTimeout)
	defer cancel()
	list, err := c.Deployments(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, st := range list {
		if st.CommitID == second {
			return st.CreatedAt.Sub(start), toRunning, nil
		}
	}
	return 0, 0, fmt.Errorf("%s 1.1.0 runs, but no deployment has commit %s: %+v", gitComponent, second, list)
}

// commitRecipe writes gitComponent's recipe at version, commits it and
// returns the commit id and when git commit returned, where the clock starts.
func commitRecipe(repo, path, version string) (id string, committed time.Time, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", committed, err
	}
	if err := os.WriteFile(path, trivialRecipe(gitComponent, version), 0o644); err != nil {
		return "", committed, err
	}
	if _, err := git(repo, "add", "--all"); err != nil {
		return "", committed, err
	}
	if _, err := git(repo, "commit", "--quiet", "--message", gitComponent+" "+version); err != nil {
		return "", committed, err
	}
	committed = time.Now()
	id, err = git(repo, "rev-parse", "HEAD")
	return id, committed, err
}

// git runs git in repo with a fixed identity and without the machine's or
// the user's configuration (hooks, signing), and returns its output.
func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=sward perf", "GIT_AUTHOR_EMAIL=perf@sward.invalid",
		"GIT_COMMITTER_NAME=sward perf", "GIT_COMMITTER_EMAIL=perf@sward.invalid")
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), repo, err, strings.TrimSpace(string(exit.Stderr)))
		}
		return "", fmt.Errorf("git %s in %s: %w", strings.Join(args, " "), repo, err)
	}
	return strings.TrimSpace(string(out)), nil
}
