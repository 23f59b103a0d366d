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

// noChange fails if a Change is waiting.
func noChange(t *testing.T, d *Dir) {
	t.Helper()
	select {
	case c := <-d.Changes():
		t.Fatalf("unexpected change %+v", c)
	default:
	}
}

func TestDirBurstOfWritesEmitsOneChangeOnceQuiet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTestFile(t, dir, "hello.yaml", "ComponentVersion: 1.0.0\n")
	d := startDir(t, DirOptions{Dir: dir})

	// An editor saving in several writes, then a second file.
	f, err := os.OpenFile(filepath.Join(dir, "hello.yaml"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"Component", "Version: ", "1.0.1", "\n"} {
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the editor's pace, not synchronisation
	}
	f.Close()
	writeTestFile(t, dir, "sub/world.yaml", "ComponentVersion: 2.0.0\n")

	c := testutil.Receive(t, d.Changes(), "a change")
	want, err := Fingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != dir || c.Fingerprint != want {
		t.Fatalf("change = %+v, want Dir %s and the final fingerprint %s", c, dir, want)
	}
	settle(t, d)
	noChange(t, d)
}

func TestDirIgnoresDotFilesAndEditorSwapFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTestFile(t, dir, "hello.yaml", "a\n")
	d := startDir(t, DirOptions{Dir: dir})

	for _, name := range []string{".hello.yaml.swp", "hello.yaml.swp", "hello.yaml~", ".#hello.yaml",
		"#hello.yaml#", ".git/HEAD", ".cache/x/y", "sub/.DS_Store", "sub/x.swo"} {
		writeTestFile(t, dir, name, "scratch")
	}
	settle(t, d)
	noChange(t, d)

	// The watcher is alive: a real edit still comes through.
	writeTestFile(t, dir, "hello.yaml", "b\n")
	testutil.Receive(t, d.Changes(), "the change to hello.yaml")
}

func TestDirTouchIsNotAChangeButASameSizeEditIs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "hello.yaml")
	writeTestFile(t, dir, "hello.yaml", "version: 1.0.0\n")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	d := startDir(t, DirOptions{Dir: dir})

	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	settle(t, d)
	noChange(t, d)

	// Same size and, as after a write in the same timestamp tick, same mtime.
	writeTestFile(t, dir, "hello.yaml", "version: 1.0.1\n")
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, d.Changes(), "the same-size edit")
}

func TestDirEmitInitialEmitsTheStartingContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTestFile(t, dir, "hello.yaml", "a\n")
	d := startDir(t, DirOptions{Dir: dir, EmitInitial: true})
	c := testutil.Receive(t, d.Changes(), "the initial change")
	if want, _ := Fingerprint(dir); c.Fingerprint != want {
		t.Fatalf("fingerprint %s, want %s", c.Fingerprint, want)
	}
}

func TestDirWatchesTheArtifactFolderToo(t *testing.T) {
	t.Parallel()
	recipes, artifacts := t.TempDir(), t.TempDir()
	writeTestFile(t, recipes, "hello.yaml", "a\n")
	d := startDir(t, DirOptions{Dir: recipes, ArtifactDir: artifacts})
	writeTestFile(t, artifacts, "com.example.Hello/1.0.0/hello.sh", "echo hi\n")
	c := testutil.Receive(t, d.Changes(), "the artifact change")
	if want, _ := Fingerprint(recipes, artifacts); c.Dir != recipes || c.Fingerprint != want {
		t.Fatalf("change = %+v, want Dir %s, fingerprint %s", c, recipes, want)
	}
}

func TestDirStartFailsOnAMissingFolder(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "recipes")
	d, err := NewDir(DirOptions{Dir: missing, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Start(context.Background())
	if !errors.Is(err, ErrFolder) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Start = %v, want ErrFolder naming %s", err, missing)
	}
}

func TestDirRemovedFolderIsAnErrorAndItsReturnIsAChangeOnlyIfDifferent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "recipes")
	writeTestFile(t, dir, "hello.yaml", "a\n")
	d := startDir(t, DirOptions{Dir: dir})

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := testutil.Receive(t, d.Errors(), "the scan error")
	if !errors.Is(err, ErrFolder) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error = %v, want ErrFolder naming %s", err, dir)
	}
	writeTestFile(t, dir, "hello.yaml", "a\n") // back as it was
	settle(t, d)
	noChange(t, d)

	writeTestFile(t, dir, "hello.yaml", "b\n")
	testutil.Receive(t, d.Changes(), "the change")
}

func TestDirCloseClosesTheChannels(t *testing.T) {
	t.Parallel()
	d := startDir(t, DirOptions{Dir: t.TempDir()})
	d.Close()
	if _, ok := <-d.Changes(); ok {
		t.Fatal("Changes still open after Close")
	}
	if _, ok := <-d.Errors(); ok {
		t.Fatal("Errors still open after Close")
	}
	if err := d.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("Start after Close = %v, want ErrStarted", err)
	}
}

func TestIgnoredNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"hello.yaml": false, "hello.json": false, "run.sh": false, "#": false, "a#b#": false,
		".git": true, ".hello.yaml.swp": true, "hello.yaml.swp": true, "x.swo": true, "x.swx": true,
		"hello.yaml~": true, ".#hello.yaml": true, "#hello.yaml#": true,
	} {
		if got := ignored(name); got != want {
			t.Errorf("ignored(%q) = %v, want %v", name, got, want)
		}
	}
}
