package watch

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// Test timings: polls fast enough that the package runs in a few seconds,
// a deadline generous enough for a loaded CI machine running -race.
const (
	testDirInterval = 20 * time.Millisecond
	testQuiet       = 150 * time.Millisecond
	testGitInterval = 100 * time.Millisecond
	testDeadline    = 10 * time.Second
)

func testLogger() *slog.Logger {
	if os.Getenv("SWARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// writeTestFile writes content to dir/rel, creating folders.
func writeTestFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testRepo is a real git repository in a temporary folder.
type testRepo struct {
	t   *testing.T
	dir string
}

// newRepo runs git init with branch main and commits recipes/hello.yaml.
func newRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{t: t, dir: t.TempDir()}
	r.git("init", "--quiet", "--initial-branch=main")
	return r
}

// git runs git in the repository, isolated from the user's git config, and
// returns its trimmed output.
func (r *testRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir,
		"-c", "user.name=Sward Test", "-c", "user.email=test@sward.invalid"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *testRepo) write(rel, content string) { r.t.Helper(); writeTestFile(r.t, r.dir, rel, content) }

// commit stages everything and commits it; it returns the commit id.
func (r *testRepo) commit(subject string) string {
	r.t.Helper()
	r.git("add", "--all")
	r.git("commit", "--quiet", "--allow-empty", "-m", subject+"\n\nbody line")
	return r.git("rev-parse", "HEAD")
}

// startGit starts a Git watcher on the repository and closes it at cleanup.
func startGit(t *testing.T, opts GitOptions) *Git {
	t.Helper()
	if opts.Interval == 0 {
		opts.Interval = testGitInterval
	}
	opts.Logger = testLogger()
	g, err := NewGit(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// startDir starts a Dir watcher and closes it at cleanup.
func startDir(t *testing.T, opts DirOptions) *Dir {
	t.Helper()
	opts.Interval, opts.Quiet, opts.Logger = testDirInterval, testQuiet, testLogger()
	d, err := NewDir(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// settle waits until d has scanned for longer than its quiet window plus a
// few polls, so any change it saw before has been emitted by then.
func settle(t *testing.T, d *Dir) {
	t.Helper()
	n := d.scans.Load() + int64(d.opts.Quiet/d.opts.Interval) + 3
	testutil.Until(t, "the watcher to settle", func() bool { return d.scans.Load() >= n })
}
