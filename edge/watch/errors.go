package watch

import (
	"errors"

	"github.com/sward-iot/sward/edge/internal/errdetail"
)

var (
	// ErrInvalidOptions is returned by NewDir and NewGit when an option is
	// missing or malformed: no folder, a Path that leaves the repository, a
	// negative interval.
	ErrInvalidOptions = errors.New("invalid watch options")

	// ErrStarted is returned by Start when the watcher was already started;
	// a watcher runs once, build a new one to watch again.
	ErrStarted = errors.New("watcher already started")

	// ErrFolder is returned by Dir.Start, and delivered on Dir.Errors, when a
	// watched folder is missing, not a folder or cannot be read.
	ErrFolder = errors.New("watched folder unusable")

	// ErrGitNotInstalled is returned by Git.Start when the git command is not
	// on PATH. Sward runs git rather than linking a git library; install it
	// (apt-get install git).
	ErrGitNotInstalled = errors.New("git not installed")

	// ErrNotRepo is returned by Git.Start when Repo is missing, is not a git
	// repository, or is a subfolder of one rather than its top folder.
	ErrNotRepo = errors.New("not a git repository")

	// ErrBranchNotFound is delivered on Git.Errors while the watched branch
	// does not exist (a fresh repository with no commit yet, or a typo). The
	// watcher keeps polling and emits the first commit that lands on it.
	ErrBranchNotFound = errors.New("branch not found")

	// ErrPathNotFound is delivered on Git.Errors when Path is missing at a
	// commit, or is a file there. That commit is skipped; the next commit
	// that has the folder is exported as usual.
	ErrPathNotFound = errors.New("path not found at commit")

	// ErrGit is delivered on Git.Errors (or returned by Git.Start) when a git
	// command fails for another reason; the message carries git's own.
	ErrGit = errors.New("git command failed")
)

func errorf(sentinel error, format string, args ...any) error {
	return errdetail.New(sentinel, format, args...)
}
