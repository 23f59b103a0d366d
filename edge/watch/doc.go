// Package watch tells the nucleus when there is something new to deploy: a
// recipes folder whose content changed (Dir) or a new commit on a branch of
// a local git repository (Git). It only watches; the deployment engine
// decides what to do with a Change or a Commit.
//
// Both watchers poll — no inotify, so they behave the same on every
// filesystem (bind mounts, NFS, overlayfs, SD cards) and cost nothing to
// build. Both follow Options → New → Start(ctx) → Close, deliver events on a
// channel with a buffer of one that keeps only the latest (a slow consumer
// gets the newest state, never a backlog, and never blocks the watcher) and
// problems on a second channel, each problem once until it changes.
//
// Dir fingerprints the folders every 100 ms (relative path, mode, and content
// of files up to 1 MiB, size and mtime above) and emits a Change when a new
// fingerprint has held for 300 ms, so a save in several writes or a copy of
// many files is one Change, at most 400 ms after the last write. Dot-files
// and editor swap and backup files do not count.
//
// Git runs the git command (it must be installed: apt-get install git) every
// second: `git rev-parse` of refs/heads/<branch>, and for a commit id it has
// not just handled, `git archive <commit>:<path>` extracted into a fresh
// folder. It reads objects only, so the user's work tree and index are never
// touched and uncommitted or untracked files never reach a device. The commit
// the branch points to at Start is emitted first; a branch moved back (reset,
// amend) emits the commit it now points to. The consumer calls Done when it
// has taken what it needs from an export; older exports are then removed.
//
// Usage:
//
//	g, err := watch.NewGit(watch.GitOptions{Repo: "/srv/fleet"})
//	err = g.Start(ctx) // git missing, not a repository: returned here
//	for {
//		select {
//		case c := <-g.Commits():
//			deploy(c.Dir) // copies recipes and artifacts into the store
//			g.Done(c)
//		case err := <-g.Errors(): // branch missing, Path missing at a commit
//			report(err)
//		}
//	}
//	g.Close()
package watch
