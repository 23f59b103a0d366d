package publish

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// git runs the git binary in dir, as edge/watch does: no prompt for a
// password, English messages, and none of the GIT_DIR-like variables a
// hook may have set.
type git struct{ bin, dir string }

func (g git) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.bin, append([]string{"-C", g.dir}, args...)...)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "GIT_") && k != "LC_ALL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git -C %s %s: %s", g.dir, strings.Join(args, " "), msg)
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// ResolveCommit returns the full id of rev: rev itself when it is one,
// else what git rev-parse makes of it in the current folder's repository.
func ResolveCommit(ctx context.Context, rev string) (string, error) {
	if validCommit(rev) {
		return rev, nil
	}
	id, err := git{bin: "git", dir: "."}.run(ctx, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%q is not a full commit id and git cannot resolve it (%v): give the 40 or 64 hex digits", rev, err)
	}
	return id, nil
}
