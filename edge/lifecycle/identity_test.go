package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// reachable makes the folders above opts.WorkDir searchable by everyone,
// as they are on a device (t.TempDir makes them 0700).
func reachable(t *testing.T, opts Options) {
	t.Helper()
	for _, d := range []string{filepath.Dir(opts.WorkDir), filepath.Dir(filepath.Dir(opts.WorkDir))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestComponentUIDsAreDistinctFromTheRangeAndStableAcrossSupervisors(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t)
	reachable(t, opts)
	opts.ComponentUIDs = true
	uids := func() map[string]string {
		s, _ := startSupervisor(t, opts)
		apply(t, s,
			Component{Name: "a", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`id -u > uid; id -g > gid`)}},
			Component{Name: "b", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`id -u > uid; id -g > gid`)}})
		out := map[string]string{}
		for _, name := range []string{"a", "b"} {
			st := waitState(t, s, name, StateFinished)
			for _, f := range []string{"uid", "gid"} {
				b, _ := os.ReadFile(filepath.Join(st.WorkDir, f))
				out[name+"."+f] = strings.TrimSpace(string(b))
			}
		}
		return out
	}
	first := uids()
	if first["a.uid"] != "61184" || first["b.uid"] != "61185" || first["a.gid"] != "61184" || first["b.gid"] != "61185" {
		t.Fatalf("uids and gids %v; want a 61184 and b 61185, the first of the range, gid = uid", first)
	}
	// A second supervisor on the same state, as after a nucleus restart,
	// with the components given in another order.
	if again := uids(); again["a.uid"] != first["a.uid"] || again["b.uid"] != first["b.uid"] {
		t.Fatalf("after a restart: %v; want the same uids %v", again, first)
	}
}

func TestAComponentWithItsOwnRunAsKeepsItUnderComponentUIDs(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t)
	reachable(t, opts)
	opts.ComponentUIDs = true
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "n", Version: "1.0.0", RunAs: "nobody", Lifecycle: Lifecycle{Run: script(`id -u > uid`)}})
	st := waitState(t, s, "n", StateFinished)
	if b, _ := os.ReadFile(filepath.Join(st.WorkDir, "uid")); strings.TrimSpace(string(b)) != "65534" {
		t.Fatalf("component with runWith posixUser nobody ran as uid %q", b)
	}
}

func TestUIDAllocationRefusesAFullRangeAndACorruptRecord(t *testing.T) {
	dir := t.TempDir()
	a, err := loadUIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for u := ComponentUIDFirst; u <= ComponentUIDLast; u++ {
		a.byName["c"+string(rune(u))] = u
	}
	if _, err := a.uid("one.more"); err == nil || !strings.Contains(err.Error(), "all 4336 component uids (61184–65519) are taken") {
		t.Fatalf("allocation in a full range: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, uidFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadUIDs(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, uidFile)) || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("corrupt record: %v; want an error naming the file and the fix", err)
	}
}

func TestWorkFoldersAreTraverseOnlyAndOwnedByTheirComponent(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t)
	reachable(t, opts)
	// An older nucleus left WorkDir 0700 and a work folder owned by root
	// with a file in it: --run-as failed with "permission denied".
	old := filepath.Join(opts.WorkDir, "w")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(opts.WorkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "state"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts.RunAs = "nobody"
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "w", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`cat state > copy`)}})
	waitState(t, s, "w", StateFinished)
	for path, want := range map[string]os.FileMode{opts.WorkDir: 0o711, old: 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	for _, f := range []string{old, filepath.Join(old, "state"), filepath.Join(old, "copy")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			t.Errorf("%s belongs to uid %d, want nobody (65534)", f, uid)
		}
	}
}

func TestASupervisorWhoseComponentsCannotReachTheirWorkFolderIsRefused(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t) // under t.TempDir: 0700 folders above WorkDir
	opts.RunAs = "nobody"
	_, err := New(opts)
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+opts.WorkDir) || !strings.Contains(err.Error(), "chmod o+x") {
		t.Fatalf("New = %v; want an error naming the work folder and the fix", err)
	}
}

func TestGivingAWorkFolderNeverFollowsASymbolicLinkOutOfIt(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	work := filepath.Join(dir, "work")
	for _, d := range []string{outside, filepath.Join(work, "sub")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "shadow"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"to-file": filepath.Join(outside, "shadow"), "sub/to-dir": outside} {
		if err := os.Symlink(target, filepath.Join(work, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := giveTree(work, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]uint32{
		work: 65534, filepath.Join(work, "sub"): 65534, filepath.Join(work, "sub", "to-dir"): 65534,
		outside: 0, filepath.Join(outside, "shadow"): 0,
	} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want {
			t.Errorf("%s belongs to uid %d, want %d", path, uid, want)
		}
	}
}
