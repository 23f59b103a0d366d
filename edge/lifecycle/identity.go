package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Per-component uids (Options.ComponentUIDs) come from the range systemd
// reserves for DynamicUser= services, 61184–65519: distributions keep it
// free of regular and system users, so an allocated uid never names a
// person or a daemon. uid and gid are the same number; no passwd entry is
// needed, as the kernel takes numeric ids.
const (
	ComponentUIDFirst = 61184
	ComponentUIDLast  = 65519
)

// uidFile is the allocation record in StateDir: component name → uid.
const uidFile = "uids.json"

// uidAllocator hands out stable per-component uids and persists them, so a
// component keeps its uid (and its files) across restarts of the nucleus.
type uidAllocator struct {
	path   string
	mu     sync.Mutex
	byName map[string]int
}

// loadUIDs reads the allocation record; a missing one is empty.
func loadUIDs(stateDir string) (*uidAllocator, error) {
	a := &uidAllocator{path: filepath.Join(stateDir, uidFile), byName: map[string]int{}}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &a.byName)
	}
	if err != nil {
		return nil, fmt.Errorf("component uid record %s: %w; remove it to allocate uids afresh (components then lose their files)", a.path, err)
	}
	return a, nil
}

// uid returns the component's uid, allocating the lowest free one.
func (a *uidAllocator) uid(name string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.byName[name]; ok {
		return u, nil
	}
	taken := map[int]bool{}
	for _, u := range a.byName {
		taken[u] = true
	}
	for u := ComponentUIDFirst; u <= ComponentUIDLast; u++ {
		if taken[u] {
			continue
		}
		a.byName[name] = u
		b, _ := json.MarshalIndent(a.byName, "", "  ")
		tmp := a.path + ".tmp"
		err := os.WriteFile(tmp, b, 0o600)
		if err == nil {
			err = os.Rename(tmp, a.path)
		}
		if err != nil {
			delete(a.byName, name)
			return 0, fmt.Errorf("component %s: cannot record its uid in %s: %w", name, a.path, err)
		}
		return u, nil
	}
	return 0, fmt.Errorf("component %s: all %d component uids (%d–%d) are taken; remove components or entries of %s", name,
		ComponentUIDLast-ComponentUIDFirst+1, ComponentUIDFirst, ComponentUIDLast, a.path)
}

// componentIdentity is the identity of a component's non-privileged steps:
// its runWith posixUser, else its own uid (Options.ComponentUIDs), else
// Options.RunAs; nil for the nucleus user.
func (s *Supervisor) componentIdentity(c *Component, runAs *identity) (*identity, error) {
	if runAs != nil {
		return runAs, nil
	}
	if s.uids != nil {
		u, err := s.uids.uid(c.Name)
		if err != nil {
			return nil, err
		}
		return &identity{cred: syscall.Credential{Uid: uint32(u), Gid: uint32(u), Groups: []uint32{uint32(u)}}, uid: u, gid: u}, nil
	}
	return s.runAs, nil
}

// giveTree makes uid:gid own path and everything under it, so the work
// folder a component had under another identity (or files its privileged
// steps wrote) become its own. The walk goes through folder descriptors
// (openat with O_NOFOLLOW, fchownat without following links): a process of
// the component that swaps a folder for a symbolic link to /etc while the
// walk runs makes it fail, never chown a file outside the tree.
func giveTree(path string, uid, gid int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		unix.Close(fd)
		return fmt.Errorf("%s: %w", path, err)
	}
	return giveChildren(fd, path, uid, gid)
}

// giveChildren chowns what folder descriptor dir (named path, for errors)
// holds, recursively, and closes dir.
func giveChildren(dir int, path string, uid, gid int) error {
	f := os.NewFile(uintptr(dir), path)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range ents {
		name := e.Name()
		if err := unix.Fchownat(dir, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
		}
		if !e.IsDir() {
			continue
		}
		sub, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(path, name), err)
		}
		if err := giveChildren(sub, filepath.Join(path, name), uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// giveGroup sets the group of path and everything under it to gid, leaving
// the owner (the nucleus) as it is: the component reads its artifacts
// through the group bits the store sets for Permission OWNER, and cannot
// change their modes.
func giveGroup(path string, gid int) error {
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, -1, gid)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// checkReachable returns an error naming the first folder above dir that
// id cannot traverse: its steps could not enter their work folder or read
// their artifacts (chdir and exec happen after the switch to id). A root
// under /root (mode 0700 on most distributions) is the usual case.
func checkReachable(dir string, id *identity) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("lifecycle: %s: %w", d, err)
		}
		if !traversable(fi, id) {
			return fmt.Errorf("lifecycle: components run as uid %d but cannot reach %s: %s is mode %v; "+
				"chmod o+x %s, or choose a --root under folders every user may traverse (such as /var/lib/sward)",
				id.uid, dir, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// traversable reports whether id may search folder fi, by the owner, group
// or other bits that apply to it.
func traversable(fi fs.FileInfo, id *identity) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == id.uid:
		return perm&0o100 != 0
	case slices.Contains(id.cred.Groups, st.Gid) || int(st.Gid) == id.gid:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}
