package watch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultGitInterval is how often a Git watcher asks git for the branch's
// commit. Each poll forks one short git process (about 1 ms of CPU on x86,
// a few on an Orange Pi); once a second keeps that near 0.3% of a core while
// idle, and a second is invisible next to the time a person takes to commit.
const DefaultGitInterval = time.Second

// DefaultGitPath is the folder of the repository that holds the recipes.
const DefaultGitPath = "recipes"

// exportPrefix starts the name of every export folder, so that Start can
// remove those a crashed predecessor left without touching anything else in
// ExportDir.
const exportPrefix = "commit-"

// GitOptions configure a Git watcher.
type GitOptions struct {
	// Repo is the top folder of a local git repository (a clone, or a bare
	// repository that receives pushes). Required.
	Repo string
	// Branch is the branch to follow; default: the branch checked out in
	// Repo when Start runs.
	Branch string
	// Path is the folder, relative to the repository's top, that is
	// exported for each commit; default DefaultGitPath. "." exports the
	// whole tree.
	Path string
	// Interval between polls; default DefaultGitInterval.
	Interval time.Duration
	// ExportDir receives one folder per exported commit. The watcher owns
	// the "commit-*" entries in it and removes those left by an earlier run
	// at Start. Default: a new temporary folder, removed by Close.
	ExportDir string
	// Logger receives the watcher's logs, with service=watch; default
	// slog.Default().
	Logger *slog.Logger
}

// Commit is a commit of the watched branch, exported.
type Commit struct {
	// ID is the full commit id.
	ID string
	// Branch is the branch it was found on.
	Branch string
	// Dir holds the content of GitOptions.Path at this commit, exactly as
	// committed: no uncommitted change or untracked file of the work tree.
	// Read-only for the consumer; valid until a newer Commit is passed to
	// Git.Done, or Close.
	Dir string
	// Subject is the first line of the commit message (git's %s).
	Subject string
	// Time is the committer date.
	Time time.Time

	seq uint64 // emission order, for Done
}

// export is an export folder the watcher made and has not removed yet.
type export struct {
	dir string
	seq uint64
}

// Git polls a branch of a local git repository and emits each new commit it
// points to, with the commit's Path folder exported into a fresh folder. A
// branch moved back (reset, amend) emits the commit it now points to.
type Git struct {
	opts    GitOptions
	log     *slog.Logger
	env     []string
	gitPath string
	commits chan Commit
	errs    chan error
	run     runner

	mu        sync.Mutex
	exports   []export // oldest first
	seq       uint64
	ownExport bool // ExportDir was created by Start, removed by Close
	closed    bool
}

// NewGit validates opts and fills defaults; git is not run until Start.
func NewGit(opts GitOptions) (*Git, error) {
	if opts.Repo == "" {
		return nil, errorf(ErrInvalidOptions, "watch: GitOptions.Repo is empty: pass the folder of a local git repository")
	}
	if opts.Path == "" {
		opts.Path = DefaultGitPath
	}
	p := path.Clean(filepath.ToSlash(opts.Path))
	if path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return nil, errorf(ErrInvalidOptions, "watch repo %s: Path %q is not inside the repository: give a folder relative to its top, like %q", opts.Repo, opts.Path, DefaultGitPath)
	}
	opts.Path = p
	if opts.Interval < 0 {
		return nil, errorf(ErrInvalidOptions, "watch repo %s: negative Interval %v: use 0 for the default", opts.Repo, opts.Interval)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultGitInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Git{
		opts:    opts,
		env:     gitEnv(),
		commits: make(chan Commit, 1),
		errs:    make(chan error, 1),
	}, nil
}

// Commits delivers each new commit of the branch, starting with the one it
// points to at Start. A Commit the consumer has not taken is replaced by a
// newer one (and its export removed). Closed by Close.
func (g *Git) Commits() <-chan Commit { return g.commits }

// Errors delivers problems found while polling — the branch is missing
// (ErrBranchNotFound), Path is missing at a commit (ErrPathNotFound), git
// failed (ErrGit) — each once until it changes; the watcher keeps polling.
// An error the consumer has not taken is replaced by a newer one. Closed by
// Close.
func (g *Git) Errors() <-chan error { return g.errs }

// Start checks that git is installed and Repo is a repository, settles the
// branch, prepares ExportDir, and polls until ctx is done or Close. Problems
// a later commit can fix are delivered on Errors instead.
func (g *Git) Start(ctx context.Context) error {
	return g.run.start(ctx, g.prepare, g.loop)
}

func (g *Git) prepare(ctx context.Context) error {
	var err error
	if g.gitPath, err = exec.LookPath("git"); err != nil {
		return errorf(ErrGitNotInstalled, "watch repo %s: the git command is not on PATH (%s): sward runs git to read commits; install it (apt-get install git)", g.opts.Repo, os.Getenv("PATH"))
	}
	if err := g.checkRepo(ctx); err != nil {
		return err
	}
	if err := g.settleBranch(ctx); err != nil {
		return err
	}
	if err := g.prepareExportDir(); err != nil {
		return err
	}
	g.log = g.opts.Logger.With("service", "watch", "watcher", "git", "repo", g.opts.Repo, "branch", g.opts.Branch)
	return nil
}

// Done tells the watcher that the consumer no longer reads the export of c
// or of any older commit; those older exports are removed. c's own stays
// until a newer commit is done, or Close.
func (g *Git) Done(c Commit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	keep := g.exports[:0]
	for _, e := range g.exports {
		if e.seq < c.seq {
			g.remove(e.dir)
		} else {
			keep = append(keep, e)
		}
	}
	g.exports = keep
}

// Close stops the watcher, closes its channels and removes every export
// folder it made (and ExportDir if Start created it). It is safe to call more
// than once, and without Start.
func (g *Git) Close() error {
	if !g.run.stop() {
		return nil
	}
	close(g.commits)
	close(g.errs)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for _, e := range g.exports {
		g.remove(e.dir)
	}
	g.exports = nil
	if g.ownExport {
		g.remove(g.opts.ExportDir)
	}
	return nil
}

func (g *Git) checkRepo(ctx context.Context) error {
	if fi, err := os.Stat(g.opts.Repo); err != nil || !fi.IsDir() {
		return errorf(ErrNotRepo, "watch repo %s: no such folder: clone or git init the repository there, or pass its folder", g.opts.Repo)
	}
	out, err := g.git(ctx, "rev-parse", "--is-bare-repository", "--show-prefix")
	if err != nil {
		ge, _ := errors.AsType[*gitError](err)
		if ge != nil && strings.Contains(ge.stderr, "not a git repository") {
			return errorf(ErrNotRepo, "watch repo %s is not a git repository: run git init there or pass the folder of a clone", g.opts.Repo)
		}
		return err
	}
	bare, prefix, _ := strings.Cut(out, "\n")
	if prefix = strings.TrimSuffix(prefix, "/"); bare != "true" && prefix != "" {
		top, _ := g.git(ctx, "rev-parse", "--show-toplevel")
		return errorf(ErrNotRepo, "watch repo %s is the folder %s inside the git repository %s, not its top folder: pass Repo %s and Path %s", g.opts.Repo, prefix, top, top, path.Join(prefix, g.opts.Path))
	}
	return nil
}

func (g *Git) settleBranch(ctx context.Context) error {
	if g.opts.Branch == "" {
		b, err := g.git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
		if err != nil {
			return errorf(ErrInvalidOptions, "watch repo %s: HEAD is detached, so there is no current branch to follow: set Branch (or check out a branch)", g.opts.Repo)
		}
		g.opts.Branch = b
	}
	if _, err := g.git(ctx, "check-ref-format", "--branch", g.opts.Branch); err != nil {
		return errorf(ErrInvalidOptions, "watch repo %s: %q is not a valid branch name: set Branch to an existing branch, like main", g.opts.Repo, g.opts.Branch)
	}
	return nil
}

func (g *Git) prepareExportDir() error {
	if g.opts.ExportDir == "" {
		dir, err := os.MkdirTemp("", "sward-watch-")
		if err != nil {
			return fmt.Errorf("watch repo %s: create a folder for exports: %w: set ExportDir or TMPDIR to a writable folder", g.opts.Repo, err)
		}
		g.opts.ExportDir, g.ownExport = dir, true
		return nil
	}
	if err := os.MkdirAll(g.opts.ExportDir, 0o700); err != nil {
		return fmt.Errorf("watch repo %s: ExportDir: %w: make it writable or choose another", g.opts.Repo, err)
	}
	leftovers, err := filepath.Glob(filepath.Join(g.opts.ExportDir, exportPrefix+"*"))
	if err != nil {
		return err
	}
	for _, dir := range leftovers {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("watch repo %s: remove the export %s left by an earlier run: %w: remove it by hand", g.opts.Repo, dir, err)
		}
	}
	return nil
}

func (g *Git) loop(ctx context.Context) {
	g.log.Info("watching", "path", g.opts.Path, "interval", g.opts.Interval, "exportDir", g.opts.ExportDir)
	var last, lastErr string // last commit handled, last error reported
	poll := func() {
		err := g.poll(ctx, &last)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && lastErr != "":
			g.log.Info("recovered")
			lastErr = ""
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			g.log.Warn("poll failed", "err", err)
			offer(g.errs, err)
		}
	}
	poll()
	t := time.NewTicker(g.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			poll()
		}
	}
}

// poll emits the branch's commit if it is not *last. A commit that cannot be
// exported for a reason of its own (Path missing) is not tried again; other
// failures are retried on the next poll.
func (g *Git) poll(ctx context.Context, last *string) error {
	ref := "refs/heads/" + g.opts.Branch
	id, err := g.git(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err != nil {
		if ge, ok := errors.AsType[*gitError](err); ok && ge.code == 1 && ge.stderr == "" {
			branches, _ := g.git(ctx, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
			have := "none yet"
			if branches != "" {
				have = strings.ReplaceAll(branches, "\n", ", ")
			}
			return errorf(ErrBranchNotFound, "watch repo %s: branch %s does not exist (branches: %s): commit to it, or set Branch to one of them", g.opts.Repo, g.opts.Branch, have)
		}
		return err
	}
	if id == *last {
		return nil
	}
	c, err := g.export(ctx, id)
	if errors.Is(err, ErrPathNotFound) {
		*last = id
	}
	if err != nil {
		return err
	}
	*last = id
	g.emit(c)
	return nil
}

// export writes the Path folder of commit id into a new export folder.
func (g *Git) export(ctx context.Context, id string) (Commit, error) {
	tree := id + ":" // the root tree
	if g.opts.Path != "." {
		tree += g.opts.Path
		kind, err := g.git(ctx, "cat-file", "-t", tree)
		if err != nil || kind != "tree" {
			what := "does not exist"
			if err == nil {
				what = "is a " + kind + ", not a folder"
			}
			return Commit{}, errorf(ErrPathNotFound, "watch repo %s: branch %s, commit %s: %s %s at that commit, so it is not deployed: commit the recipes folder back, or set Path to the folder that holds them", g.opts.Repo, g.opts.Branch, shortID(id), g.opts.Path, what)
		}
	}
	meta, err := g.git(ctx, "show", "--no-patch", "--no-show-signature", "--format=%ct%x00%s", id)
	if err != nil {
		return Commit{}, err
	}
	ct, subject, _ := strings.Cut(meta, "\x00")
	secs, _ := strconv.ParseInt(ct, 10, 64)

	g.mu.Lock()
	g.seq++
	seq := g.seq
	g.mu.Unlock()
	dir := filepath.Join(g.opts.ExportDir, fmt.Sprintf("%s%s-%d", exportPrefix, shortID(id), seq))
	if err := g.archive(ctx, tree, dir); err != nil {
		g.remove(dir)
		return Commit{}, fmt.Errorf("watch repo %s: branch %s, commit %s: export %s into %s: %w", g.opts.Repo, g.opts.Branch, shortID(id), g.opts.Path, dir, err)
	}
	return Commit{ID: id, Branch: g.opts.Branch, Dir: dir, Subject: subject, Time: time.Unix(secs, 0), seq: seq}, nil
}

// archive streams `git archive` of a tree into dir. git archive reads
// objects only: the user's work tree and index are never touched, and
// uncommitted or untracked files cannot leak in. Attributes apply as for git
// archive (export-ignore drops a file from the export).
func (g *Git) archive(ctx context.Context, tree, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	args := []string{"archive", "--format=tar", tree}
	cmd := g.gitCmd(ctx, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	xerr := extract(dir, out)
	if xerr != nil {
		_ = cmd.Process.Kill()
	}
	if err := cmd.Wait(); err != nil && xerr == nil {
		return g.failed(args, err, stderr.String())
	}
	return xerr
}

// extract writes the files of a tar stream under dir. os.Root keeps every
// write inside dir whatever the names or symlinks in the stream.
func extract(dir string, r io.Reader) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if name == "." {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
		case tar.TypeReg:
			err = writeFile(root, name, h.FileInfo().Mode(), tr)
		case tar.TypeSymlink:
			if err = root.MkdirAll(path.Dir(name), 0o755); err == nil {
				err = root.Symlink(h.Linkname, name)
			}
		}
		// Other entries (the pax header with the commit id) carry no file.
		if err != nil {
			return err
		}
	}
}

// writeFile writes a regular file with git's two modes: 0755 if executable,
// else 0644.
func writeFile(root *os.Root, name string, mode os.FileMode, r io.Reader) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// emit delivers c; a Commit the consumer had not taken yet is replaced and
// its export removed.
func (g *Git) emit(c Commit) {
	g.mu.Lock()
	g.exports = append(g.exports, export{dir: c.Dir, seq: c.seq})
	g.mu.Unlock()
	g.log.Info("new commit", "commit", shortID(c.ID), "subject", c.Subject, "dir", c.Dir)
	if old, replaced := offer(g.commits, c); replaced {
		g.log.Debug("commit replaced before it was taken", "commit", shortID(old.ID))
		g.mu.Lock()
		keep := g.exports[:0]
		for _, e := range g.exports {
			if e.seq == old.seq {
				g.remove(e.dir)
			} else {
				keep = append(keep, e)
			}
		}
		g.exports = keep
		g.mu.Unlock()
	}
}

// remove deletes an export folder, logging a failure: a leftover costs disk
// space, not correctness, and the next Start removes it.
func (g *Git) remove(dir string) {
	if err := os.RemoveAll(dir); err != nil && g.log != nil {
		g.log.Warn("cannot remove export", "dir", dir, "err", err)
	}
}
