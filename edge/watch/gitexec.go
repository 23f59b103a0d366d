package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// gitWaitDelay bounds how long a cancelled git command may keep its pipes
// open: git exits at once on SIGKILL, so 2 s only matters if a child of it
// (a filter driver) holds stdout.
const gitWaitDelay = 2 * time.Second

// gitEnv is the environment of every git command: the nucleus's own, minus
// the variables that would point git at another repository, index or work
// tree (they are set when sward runs from a git hook), plus:
//   - GIT_OPTIONAL_LOCKS=0: polling never takes the user's index.lock;
//   - GIT_TERMINAL_PROMPT=0: git never waits for a password on a terminal;
//   - LC_ALL=C: git's messages, which errors quote and a few checks match,
//     are in English.
func gitEnv() []string {
	drop := map[string]bool{
		"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true,
		"GIT_OBJECT_DIRECTORY": true, "GIT_ALTERNATE_OBJECT_DIRECTORIES": true,
		"GIT_COMMON_DIR": true, "GIT_NAMESPACE": true, "GIT_PREFIX": true,
		"GIT_OPTIONAL_LOCKS": true, "GIT_TERMINAL_PROMPT": true, "LC_ALL": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, "GIT_OPTIONAL_LOCKS=0", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
}

// gitError is a failed git command: its arguments, exit code and stderr.
type gitError struct {
	repo   string
	args   []string
	code   int
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := e.stderr
	if msg == "" {
		msg = e.err.Error()
	}
	fix := ""
	if strings.Contains(e.stderr, "dubious ownership") {
		fix = fmt.Sprintf(": the repository belongs to another user; if you trust it, run git config --global --add safe.directory %s as the user sward runs as", e.repo)
	}
	return fmt.Sprintf("git -C %s %s: %s%s", e.repo, strings.Join(e.args, " "), msg, fix)
}

func (e *gitError) Unwrap() error { return ErrGit }

// gitCmd builds a git command run in repo.
func (g *Git) gitCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, g.gitPath, append([]string{"-C", g.opts.Repo}, args...)...)
	cmd.Env = g.env
	cmd.WaitDelay = gitWaitDelay
	return cmd
}

// git runs a git command in the repository and returns its trimmed stdout;
// a failure is a *gitError.
func (g *Git) git(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := g.gitCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", g.failed(args, err, stderr.String())
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

func (g *Git) failed(args []string, err error, stderr string) *gitError {
	ge := &gitError{repo: g.opts.Repo, args: args, code: -1, stderr: strings.TrimSpace(stderr), err: err}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		ge.code = ee.ExitCode()
	}
	return ge
}
