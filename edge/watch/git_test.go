package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

const helloV1 = "ComponentVersion: 1.0.0\n"

// newRecipesRepo is a repository whose main branch has one commit with
// recipes/hello.yaml; it returns the repository and the commit id.
func newRecipesRepo(t *testing.T) (*testRepo, string) {
	t.Helper()
	r := newRepo(t)
	r.write("recipes/hello.yaml", helloV1)
	r.write("README.md", "not a recipe\n")
	return r, r.commit("add hello")
}

func recvCommit(t *testing.T, g *Git, wantID string) Commit {
	t.Helper()
	c := testutil.Receive(t, g.Commits(), "commit "+shortID(wantID))
	if c.ID != wantID {
		t.Fatalf("commit %s (%q), want %s", shortID(c.ID), c.Subject, shortID(wantID))
	}
	return c
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func TestGitEmitsTheCommitAtStartWithItsFolder(t *testing.T) {
	t.Parallel()
	r, id := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})

	c := recvCommit(t, g, id)
	if c.Branch != "main" || c.Subject != "add hello" {
		t.Errorf("commit = %+v, want branch main, subject %q", c, "add hello")
	}
	if d := time.Since(c.Time); d < -time.Minute || d > time.Minute {
		t.Errorf("commit time %v, want about now", c.Time)
	}
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != helloV1 {
		t.Errorf("exported hello.yaml = %q, want %q", got, helloV1)
	}
	if exists(filepath.Join(c.Dir, "README.md")) || exists(filepath.Join(c.Dir, "recipes")) {
		t.Error("export holds more than the content of recipes/")
	}
}

func TestGitNewCommitIsEmittedWithItsContent(t *testing.T) {
	t.Parallel()
	r, id := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})
	recvCommit(t, g, id)

	r.write("recipes/hello.yaml", "ComponentVersion: 1.0.1\n")
	r.write("recipes/world/world.yaml", "ComponentVersion: 2.0.0\n")
	id2 := r.commit("bump hello, add world")
	c := recvCommit(t, g, id2)
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != "ComponentVersion: 1.0.1\n" {
		t.Errorf("exported hello.yaml = %q", got)
	}
	if got := readFile(t, filepath.Join(c.Dir, "world/world.yaml")); got != "ComponentVersion: 2.0.0\n" {
		t.Errorf("exported world/world.yaml = %q", got)
	}
}

func TestGitExportsOnlyCommittedFilesAndLeavesWorkTreeAndIndexAlone(t *testing.T) {
	t.Parallel()
	r, id := newRecipesRepo(t)
	r.write("recipes/run.sh", "echo v1\n")
	if err := os.Chmod(filepath.Join(r.dir, "recipes/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	id = r.commit("add run.sh")
	r.write("recipes/hello.yaml", "uncommitted\n") // modified, not staged
	r.write("recipes/run.sh", "echo staged\n")
	r.git("add", "recipes/run.sh") // staged, not committed
	r.write("recipes/untracked.yaml", "untracked\n")
	status := r.git("status", "--porcelain")
	index := readFile(t, filepath.Join(r.dir, ".git/index"))

	g := startGit(t, GitOptions{Repo: r.dir})
	c := recvCommit(t, g, id)
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != helloV1 {
		t.Errorf("exported hello.yaml = %q, want the committed %q", got, helloV1)
	}
	if got := readFile(t, filepath.Join(c.Dir, "run.sh")); got != "echo v1\n" {
		t.Errorf("exported run.sh = %q, want the committed one", got)
	}
	if fi, err := os.Stat(filepath.Join(c.Dir, "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("exported run.sh mode = %v (%v), want 0755", fi.Mode(), err)
	}
	if exists(filepath.Join(c.Dir, "untracked.yaml")) {
		t.Error("an untracked file was exported")
	}
	if got := r.git("status", "--porcelain"); got != status {
		t.Errorf("git status changed:\n%s\nwant:\n%s", got, status)
	}
	if readFile(t, filepath.Join(r.dir, ".git/index")) != index {
		t.Error("the user's index was rewritten")
	}
	if got := readFile(t, filepath.Join(r.dir, "recipes/hello.yaml")); got != "uncommitted\n" {
		t.Errorf("work tree hello.yaml = %q, want the user's uncommitted edit", got)
	}
}

func TestGitIgnoresCommitsOnOtherBranches(t *testing.T) {
	t.Parallel()
	r, id := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir}) // follows main, checked out now
	recvCommit(t, g, id)

	r.git("checkout", "--quiet", "-b", "dev")
	r.write("recipes/hello.yaml", "dev\n")
	r.commit("on dev")
	r.git("checkout", "--quiet", "main")
	r.write("recipes/hello.yaml", "main\n")
	id2 := r.commit("on main")

	// Had the dev commit been picked up, it would have come first.
	c := recvCommit(t, g, id2)
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != "main\n" {
		t.Errorf("exported hello.yaml = %q, want main's", got)
	}
}

func TestGitFollowsTheBranchOption(t *testing.T) {
	t.Parallel()
	r, _ := newRecipesRepo(t)
	r.git("branch", "release")
	r.write("recipes/hello.yaml", "main only\n")
	r.commit("on main")
	g := startGit(t, GitOptions{Repo: r.dir, Branch: "release"})
	c := testutil.Receive(t, g.Commits(), "the release commit")
	if c.Branch != "release" || readFile(t, filepath.Join(c.Dir, "hello.yaml")) != helloV1 {
		t.Errorf("commit = %+v, want release's first commit", c)
	}
}

func TestGitResetOrAmendEmitsTheCommitTheBranchNowPointsTo(t *testing.T) {
	t.Parallel()
	r, id1 := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})
	recvCommit(t, g, id1)
	r.write("recipes/hello.yaml", "v2\n")
	id2 := r.commit("v2")
	recvCommit(t, g, id2)

	r.git("reset", "--quiet", "--hard", id1)
	c := recvCommit(t, g, id1)
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != helloV1 {
		t.Errorf("after reset, exported hello.yaml = %q, want %q", got, helloV1)
	}

	r.write("recipes/hello.yaml", "amended\n")
	r.git("add", "--all")
	r.git("commit", "--quiet", "--amend", "-m", "amended")
	c = recvCommit(t, g, r.git("rev-parse", "HEAD"))
	if c.Subject != "amended" || readFile(t, filepath.Join(c.Dir, "hello.yaml")) != "amended\n" {
		t.Errorf("after amend, commit = %+v", c)
	}
}

func TestGitCommitWithoutPathIsAnErrorAndTheNextGoodCommitRecovers(t *testing.T) {
	t.Parallel()
	r, id1 := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})
	recvCommit(t, g, id1)

	r.git("rm", "--quiet", "-r", "recipes")
	bad := r.commit("remove recipes")
	err := testutil.Receive(t, g.Errors(), "the missing path error")
	if !errors.Is(err, ErrPathNotFound) {
		t.Fatalf("error = %v, want ErrPathNotFound", err)
	}
	for _, want := range []string{r.dir, "branch main", shortID(bad), "recipes", "commit the recipes folder back"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	r.write("recipes", "a file now\n")
	bad = r.commit("recipes as a file")
	err = testutil.Receive(t, g.Errors(), "the not-a-folder error")
	if !errors.Is(err, ErrPathNotFound) || !strings.Contains(err.Error(), "not a folder") || !strings.Contains(err.Error(), shortID(bad)) {
		t.Fatalf("error = %v, want ErrPathNotFound saying recipes is not a folder at %s", err, shortID(bad))
	}

	r.git("rm", "--quiet", "recipes")
	r.write("recipes/hello.yaml", "back\n")
	good := r.commit("restore recipes")
	c := recvCommit(t, g, good)
	if got := readFile(t, filepath.Join(c.Dir, "hello.yaml")); got != "back\n" {
		t.Errorf("exported hello.yaml = %q", got)
	}
}

func TestGitMissingBranchIsAnErrorUntilItsFirstCommit(t *testing.T) {
	t.Parallel()
	r := newRepo(t) // main has no commit yet
	g := startGit(t, GitOptions{Repo: r.dir})
	err := testutil.Receive(t, g.Errors(), "the missing branch error")
	if !errors.Is(err, ErrBranchNotFound) || !strings.Contains(err.Error(), "branch main") || !strings.Contains(err.Error(), r.dir) {
		t.Fatalf("error = %v, want ErrBranchNotFound naming main and %s", err, r.dir)
	}
	r.write("recipes/hello.yaml", helloV1)
	recvCommit(t, g, r.commit("first"))

	g2 := startGit(t, GitOptions{Repo: r.dir, Branch: "prod"})
	err = testutil.Receive(t, g2.Errors(), "the unknown branch error")
	if !errors.Is(err, ErrBranchNotFound) || !strings.Contains(err.Error(), "branches: main") {
		t.Fatalf("error = %v, want ErrBranchNotFound listing main", err)
	}
}

func TestGitPathOptionSelectsTheExportedFolder(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.write("edge/recipes/hello.yaml", helloV1)
	r.write("top.txt", "top\n")
	id := r.commit("nested")

	c := recvCommit(t, startGit(t, GitOptions{Repo: r.dir, Path: "edge/recipes/"}), id)
	if readFile(t, filepath.Join(c.Dir, "hello.yaml")) != helloV1 {
		t.Error("nested Path not exported")
	}
	c = recvCommit(t, startGit(t, GitOptions{Repo: r.dir, Path: "."}), id)
	if readFile(t, filepath.Join(c.Dir, "top.txt")) != "top\n" || !exists(filepath.Join(c.Dir, "edge/recipes/hello.yaml")) {
		t.Error(`Path "." did not export the whole tree`)
	}
}

func TestGitDoneRemovesOlderExportsAndCloseRemovesTheRest(t *testing.T) {
	t.Parallel()
	r, id1 := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})
	c1 := recvCommit(t, g, id1)
	g.Done(c1)
	r.write("recipes/hello.yaml", "v2\n")
	c2 := recvCommit(t, g, r.commit("v2"))
	if !exists(c1.Dir) {
		t.Fatal("the export of c1 was removed before a newer commit was done")
	}
	g.Done(c2)
	if exists(c1.Dir) || !exists(c2.Dir) {
		t.Fatalf("after Done(c2): c1 export exists=%v (want false), c2 export exists=%v (want true)", exists(c1.Dir), exists(c2.Dir))
	}
	exportDir := filepath.Dir(c2.Dir)
	g.Close()
	if exists(c2.Dir) || exists(exportDir) {
		t.Fatal("Close left the exports or the temporary export folder")
	}
}

func TestGitCommitNotTakenIsReplacedByTheNewerOne(t *testing.T) {
	t.Parallel()
	r, _ := newRecipesRepo(t)
	g := startGit(t, GitOptions{Repo: r.dir})
	testutil.Until(t, "the first export", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.exports) == 1 })
	g.mu.Lock()
	first := g.exports[0].dir
	g.mu.Unlock()

	r.write("recipes/hello.yaml", "v2\n")
	id2 := r.commit("v2")
	testutil.Until(t, "the second export to replace the first", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.exports) == 1 && g.exports[0].dir != first
	})
	recvCommit(t, g, id2)
	if exists(first) {
		t.Error("the export of the replaced commit is still on disk")
	}
}

func TestGitStartRemovesExportsLeftInExportDir(t *testing.T) {
	t.Parallel()
	r, id := newRecipesRepo(t)
	exportDir := t.TempDir()
	writeTestFile(t, exportDir, "commit-0123456789ab-7/hello.yaml", "stale")
	writeTestFile(t, exportDir, "keep.txt", "not ours")
	g := startGit(t, GitOptions{Repo: r.dir, ExportDir: exportDir})
	c := recvCommit(t, g, id)
	if filepath.Dir(c.Dir) != exportDir || exists(filepath.Join(exportDir, "commit-0123456789ab-7")) || !exists(filepath.Join(exportDir, "keep.txt")) {
		t.Fatalf("export %s; want it under %s, the stale export gone and keep.txt kept", c.Dir, exportDir)
	}
	g.Close()
	if !exists(exportDir) {
		t.Error("Close removed an ExportDir it did not create")
	}
}

func TestGitStartErrors(t *testing.T) {
	t.Parallel()
	repo, _ := newRecipesRepo(t)
	detached, _ := newRecipesRepo(t)
	detached.git("checkout", "--quiet", "--detach")
	notRepo := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nope")

	for _, tc := range []struct {
		name    string
		opts    GitOptions
		wantErr error
		want    []string
	}{
		{"not a repository", GitOptions{Repo: notRepo}, ErrNotRepo, []string{notRepo, "git init"}},
		{"missing folder", GitOptions{Repo: missing}, ErrNotRepo, []string{missing}},
		{"subfolder of a repository", GitOptions{Repo: filepath.Join(repo.dir, "recipes")}, ErrNotRepo,
			[]string{"pass Repo " + repo.dir, "Path recipes/recipes"}},
		{"detached HEAD without Branch", GitOptions{Repo: detached.dir}, ErrInvalidOptions, []string{detached.dir, "set Branch"}},
		{"invalid branch name", GitOptions{Repo: repo.dir, Branch: "a..b"}, ErrInvalidOptions, []string{`"a..b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGit(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			err = g.Start(context.Background())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Start = %v, want %v", err, tc.wantErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestNewGitRejectsAPathOutsideTheRepository(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/etc", "..", "../other", "recipes/../../x"} {
		if _, err := NewGit(GitOptions{Repo: "r", Path: p}); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Path %q: NewGit = %v, want ErrInvalidOptions", p, err)
		}
	}
}

// Not parallel: it empties PATH for the whole process.
func TestGitStartWithoutGitNamesTheFix(t *testing.T) {
	r, _ := newRecipesRepo(t)
	t.Setenv("PATH", t.TempDir())
	g, err := NewGit(GitOptions{Repo: r.dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	err = g.Start(context.Background())
	if !errors.Is(err, ErrGitNotInstalled) || !strings.Contains(err.Error(), "apt-get install git") || !strings.Contains(err.Error(), r.dir) {
		t.Fatalf("Start = %v, want ErrGitNotInstalled naming %s and apt-get install git", err, r.dir)
	}
}

func TestGitExportKeepsSymlinksAsLinks(t *testing.T) {
	t.Parallel()
	r, _ := newRecipesRepo(t)
	if err := os.Symlink("hello.yaml", filepath.Join(r.dir, "recipes/alias.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../etc", filepath.Join(r.dir, "recipes/outside")); err != nil {
		t.Fatal(err)
	}
	id := r.commit("links")
	c := recvCommit(t, startGit(t, GitOptions{Repo: r.dir}), id)
	if target, err := os.Readlink(filepath.Join(c.Dir, "alias.yaml")); err != nil || target != "hello.yaml" {
		t.Errorf("alias.yaml link = %q, %v; want a link to hello.yaml", target, err)
	}
	if target, err := os.Readlink(filepath.Join(c.Dir, "outside")); err != nil || target != "../../../../etc" {
		t.Errorf("outside link = %q, %v; want the committed link", target, err)
	}
}
