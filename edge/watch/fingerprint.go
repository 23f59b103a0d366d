package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// contentHashLimit is the largest file whose content goes into a
	// fingerprint. Recipes and scripts are far smaller, so an edit that keeps
	// size and mtime is still seen and a touch or an identical rewrite is not
	// a change; artifacts (binaries, zips) are usually larger, and hashing
	// them on every scan would cost real CPU and I/O on a small board, so
	// they count by size and mtime (the store verifies their digests when it
	// installs them anyway).
	contentHashLimit = 1 << 20

	// racyWindow is how long after its mtime a file's cached content hash
	// is distrusted and the file is read again. A write inside the same
	// timestamp tick as an earlier scan leaves size and mtime unchanged (git
	// calls this "racy clean"); 2 s is the coarsest mtime granularity a
	// Linux filesystem has (FAT on an SD card), ext4 is a few ms. A file is
	// thus read on every scan for 2 s after it changes, then never again
	// while it stays unchanged.
	racyWindow = 2 * time.Second
)

// ignored reports whether a file or folder name is left out of a
// fingerprint: dot-files and dot-folders (.git, .DS_Store, emacs .#locks, vim
// .swp files), editor backups (name~), vim swap files outside dot names and
// emacs autosaves (#name#). They change while a user edits and never hold a
// recipe.
func ignored(name string) bool {
	switch {
	case strings.HasPrefix(name, "."),
		strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".swp"),
		strings.HasSuffix(name, ".swo"),
		strings.HasSuffix(name, ".swx"),
		len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"):
		return true
	}
	return false
}

// Fingerprint returns the fingerprint of the given folders as a Dir watcher
// computes it: equal fingerprints mean the same files (by relative path, mode
// and content, or size and mtime for files over 1 MiB), ignoring dot-files,
// editor swap and backup files and empty folders. Use it to tell whether a
// folder still holds what was deployed from it.
func Fingerprint(dirs ...string) (string, error) {
	return newScanner(dirs).scan()
}

// hashed is a cached content hash, reused while the file's stat is unchanged
// and its mtime was older than racyWindow when it was read.
type hashed struct {
	size     int64
	mtime    time.Time
	mode     fs.FileMode
	readAt   time.Time
	contents [sha256.Size]byte
}

// scanner computes fingerprints, caching the content hashes of small files
// so that a steady folder costs one stat per file per scan.
type scanner struct {
	dirs  []string
	cache map[string]hashed
	// spare is the previous scan's map, cleared and refilled by the next
	// one, and line the buffer each file's line is built in: a steady
	// folder scanned ten times a second makes little garbage.
	spare map[string]hashed
	line  []byte
}

func newScanner(dirs []string) *scanner {
	return &scanner{dirs: dirs, cache: map[string]hashed{}}
}

// scan walks every folder and returns the hex SHA-256 of one line per file:
// folder index, relative path, type and mode, and content hash or size and
// mtime. Folders themselves do not count: an empty folder deploys nothing,
// and a copy that creates folders first should not look like a change.
func (s *scanner) scan() (string, error) {
	h := sha256.New()
	seen := s.spare
	if seen == nil {
		seen = make(map[string]hashed, len(s.cache))
	}
	clear(seen)
	for i, dir := range s.dirs {
		if err := s.walk(h, seen, i, dir); err != nil {
			s.spare = seen
			return "", err
		}
	}
	s.cache, s.spare = seen, s.cache
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *scanner) walk(h io.Writer, seen map[string]hashed, index int, dir string) error {
	// Resolve the folder itself on every scan: a symlinked folder is
	// followed, and re-pointing it (a "current" link) is a change.
	root, err := filepath.EvalSymlinks(dir)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = os.Stat(root); err == nil && !fi.IsDir() {
			return errorf(ErrFolder, "watched folder %s is a file, not a folder: pass the folder that holds the recipes", dir)
		}
	}
	if err != nil {
		return errorf(ErrFolder, "watched folder %s: %v: create it or pass an existing folder", dir, unwrapPath(err))
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked: the next scan sees the result
			}
			return errorf(ErrFolder, "watched folder %s: %v: fix the permissions or remove the entry", dir, err)
		}
		if p == root {
			return nil
		}
		if ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		// One line per file: "<index>\x00<relative path>\x00<entry>\n".
		line := strconv.AppendInt(s.line[:0], int64(index), 10)
		line = append(line, 0)
		line = append(line, filepath.ToSlash(rel)...)
		line = append(line, 0)
		line, err = s.entry(line, seen, p, d)
		s.line = line
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return errorf(ErrFolder, "watched folder %s: cannot read %s: %v: fix its permissions or remove it", dir, rel, unwrapPath(err))
		}
		_, _ = h.Write(append(line, '\n'))
		return nil
	})
}

// entry appends the description of one non-folder entry to line. A
// symlink counts by its target string and, when that resolves to a file,
// by the file as well.
func (s *scanner) entry(line []byte, seen map[string]hashed, p string, d fs.DirEntry) ([]byte, error) {
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return line, err
		}
		line = append(line, "link:"...)
		line = append(line, target...)
		line = append(line, 0)
	}
	fi, err := os.Stat(p) // follows a symlink
	if err != nil {
		if d.Type()&fs.ModeSymlink != 0 && errors.Is(err, fs.ErrNotExist) {
			return append(line, "dangling"...), nil
		}
		return line, err
	}
	if !fi.Mode().IsRegular() {
		return append(line, fi.Mode().Type().String()...), nil
	}
	line = append(line, fi.Mode().String()...)
	line = append(line, 0)
	if fi.Size() > contentHashLimit {
		line = strconv.AppendInt(line, fi.Size(), 10)
		line = append(line, 0)
		return strconv.AppendInt(line, fi.ModTime().UnixNano(), 10), nil
	}
	c, ok := s.cache[p]
	if !ok || c.size != fi.Size() || !c.mtime.Equal(fi.ModTime()) || c.mode != fi.Mode() ||
		!c.mtime.Add(racyWindow).Before(c.readAt) {
		c = hashed{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(), readAt: time.Now()}
		if c.contents, err = hashFile(p); err != nil {
			return line, err
		}
	}
	seen[p] = c
	return hex.AppendEncode(line, c.contents[:]), nil
}

func hashFile(p string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, contentHashLimit+1)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// unwrapPath drops the *PathError wrapper whose path the caller already
// names.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
