package store

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/recipe"
)

// artifactDir lays out files as <dir>/<Name>/<Version>/<file>.
func artifactDir(t *testing.T, name, version string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	d := filepath.Join(dir, name, version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(d, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func zipOf(t *testing.T, entries map[string]string, symlink string) []byte {
	t.Helper()
	var buf strings.Builder
	w := zip.NewWriter(&buf)
	for name, body := range entries {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(body))
	}
	if symlink != "" {
		h := &zip.FileHeader{Name: symlink}
		h.SetMode(os.ModeSymlink | 0o777)
		f, _ := w.CreateHeader(h)
		f.Write([]byte("/etc/passwd"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func install(t *testing.T, root string, arts []recipe.Artifact, dir string) error {
	t.Helper()
	r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
	_, err := New(root).Install(r, &recipe.Selection{Artifacts: arts}, dir)
	return err
}

func TestInstallCopiesArtifactsWithTheirPermissions(t *testing.T) {
	root := t.TempDir()
	bin := []byte("#!/bin/sh\necho hi\n")
	dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"app": bin, "data.txt": []byte("x")})
	err := install(t, root, []recipe.Artifact{
		{URI: "s3://bucket/com.example.App/1.0.0/app", Digest: digest(bin), Algorithm: "SHA-256", Permission: recipe.Permission{Read: "OWNER", Execute: "OWNER"}},
		{URI: "s3://bucket/data.txt", Permission: recipe.Permission{Read: "ALL"}},
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := New(root)
	// OWNER is the nucleus and the group the component is given at start.
	for file, want := range map[string]os.FileMode{"app": 0o550, "data.txt": 0o444} {
		st, err := os.Stat(filepath.Join(s.ArtifactsPath("com.example.App", "1.0.0"), file))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", file, st.Mode().Perm(), want)
		}
	}
}

func TestInstallRefusesADigestMismatchAndLeavesNothing(t *testing.T) {
	root := t.TempDir()
	dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"app": []byte("tampered")})
	err := install(t, root, []recipe.Artifact{{URI: "s3://b/app", Digest: digest([]byte("original"))}}, dir)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "test.yaml") {
		t.Fatalf("Install = %v, want ErrDigestMismatch naming the recipe", err)
	}
	if _, err := os.Stat(New(root).ArtifactsPath("com.example.App", "1.0.0")); !os.IsNotExist(err) {
		t.Fatalf("a refused install left files behind: %v", err)
	}
}

func TestInstallNamesTheMissingArtifactFile(t *testing.T) {
	dir := artifactDir(t, "com.example.App", "1.0.0", nil)
	err := install(t, t.TempDir(), []recipe.Artifact{{URI: "s3://b/missing.bin"}}, dir)
	want := filepath.Join(dir, "com.example.App", "1.0.0", "missing.bin")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Install = %v, want it to name %s", err, want)
	}
}

func TestInstallUnarchivesZipIntoTheDecompressedPath(t *testing.T) {
	root := t.TempDir()
	z := zipOf(t, map[string]string{"bundle/run.sh": "#!/bin/sh\n", "bundle/conf/a.json": "{}"}, "")
	dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"bundle.zip": z})
	err := install(t, root, []recipe.Artifact{{URI: "s3://b/bundle.zip", Unarchive: "ZIP", Permission: recipe.Permission{Read: "OWNER", Execute: "OWNER"}}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(New(root).DecompressedPath("com.example.App", "1.0.0"), "bundle", "bundle", "run.sh")
	st, err := os.Stat(got)
	if err != nil {
		t.Fatalf("unarchived file missing: %v", err)
	}
	if st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("unarchived script lost its execute bit: %v", st.Mode())
	}
}

func TestInstallRefusesArchivesThatEscapeTheirFolder(t *testing.T) {
	for name, z := range map[string][]byte{
		"dot-dot":  zipOf(t, map[string]string{"../../evil": "x"}, ""),
		"absolute": zipOf(t, map[string]string{"/tmp/evil": "x"}, ""),
		"symlink":  zipOf(t, map[string]string{"ok.txt": "x"}, "link"),
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"a.zip": z})
			err := install(t, root, []recipe.Artifact{{URI: "s3://b/a.zip", Unarchive: "ZIP"}}, dir)
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("Install = %v, want ErrUnsafeArchive", err)
			}
			if _, err := os.Stat(filepath.Join(root, "packages", "artifacts-unarchived", "com.example.App", "1.0.0")); !os.IsNotExist(err) {
				t.Fatalf("a refused archive left files behind: %v", err)
			}
		})
	}
}

func TestInstallTakesFileURIsRelativeToTheRecipe(t *testing.T) {
	recipes := t.TempDir()
	if err := os.WriteFile(filepath.Join(recipes, "tool.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	r := &recipe.Recipe{File: filepath.Join(recipes, "recipe.yaml"), Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "file:tool.sh", Permission: recipe.Permission{Execute: "OWNER"}}}}
	if _, err := New(root).Install(r, sel, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(New(root).ArtifactsPath("com.example.App", "1.0.0"), "tool.sh")); err != nil {
		t.Fatalf("file: artifact not installed: %v", err)
	}
}

func TestAFailedReinstallLeavesTheInstalledVersionIntact(t *testing.T) {
	root := t.TempDir()
	good := []byte("v1")
	dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"app": good})
	if err := install(t, root, []recipe.Artifact{{URI: "s3://b/app", Digest: digest(good)}}, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "com.example.App", "1.0.0", "app"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := install(t, root, []recipe.Artifact{{URI: "s3://b/app", Digest: digest(good)}}, dir); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("reinstall of tampered artifact = %v", err)
	}
	got, err := os.ReadFile(filepath.Join(New(root).ArtifactsPath("com.example.App", "1.0.0"), "app"))
	if err != nil || string(got) != "v1" {
		t.Fatalf("the installed version was harmed by a refused reinstall: %q, %v", got, err)
	}
}

func TestInstallDigestChangesWithArtifactContent(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://b/app"}}}
	var sums []string
	for _, content := range []string{"build 1", "build 1", "build 2"} {
		dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"app": []byte(content)})
		sum, err := s.Install(r, sel, dir)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] || sums[1] == sums[2] {
		t.Fatalf("install digests %v: want equal for equal content, different for a rebuilt artifact", sums)
	}
}

func TestRecipesAreKeptPerVersionAndCollected(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	src := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		path := filepath.Join(src, v+".yaml")
		text := "RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.App\nComponentVersion: '" + v + "'\nManifests:\n  - Lifecycle:\n      Run: 'true'\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := recipe.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveRecipe(r); err != nil {
			t.Fatal(err)
		}
		if v != "2.0.0" { // 2.0.0 is staged, never installed
			if _, err := s.Install(r, &recipe.Selection{}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	stored, err := s.Recipes()
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.Collect(stored, map[string][]string{"com.example.App": {"1.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "com.example.App 1.0.0" {
		t.Fatalf("Collect removed %v", removed)
	}
	left, err := s.Recipes()
	if err != nil || len(left) != 2 {
		t.Fatalf("store holds %d recipes after collection (%v), want 2", len(left), err)
	}
}

func TestInstallRefusesFilesOutsideTheRecipeAndArtifactFolders(t *testing.T) {
	secret := "/etc/shadow" // readable by the nucleus (root), never by a component
	if _, err := os.Lstat(secret); err != nil {
		secret = "/etc/passwd"
	}
	recipes := t.TempDir()
	if err := os.Symlink(secret, filepath.Join(recipes, "link")); err != nil {
		t.Fatal(err)
	}
	linked := artifactDir(t, "com.example.App", "1.0.0", nil)
	if err := os.Symlink(secret, filepath.Join(linked, "com.example.App", "1.0.0", "app")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		uri  string
		dir  string
	}{
		{"absolute file: URI", "file:" + secret, ""},
		{"relative file: URI climbing out of the recipe folder", "file:" + strings.Repeat("../", 20) + strings.TrimPrefix(secret, "/"), ""},
		{"file: URI through a symbolic link beside the recipe", "file:link", ""},
		{"artifact folder holding a symbolic link", "s3://bucket/app", linked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			r := &recipe.Recipe{File: filepath.Join(recipes, "recipe.yaml"), Name: "com.example.App", Version: "1.0.0"}
			_, err := New(root).Install(r, &recipe.Selection{Artifacts: []recipe.Artifact{{URI: tt.uri}}}, tt.dir)
			if !errors.Is(err, ErrOutsideArtifactFolders) || !strings.Contains(err.Error(), "Artifacts[0] "+tt.uri) || !strings.Contains(err.Error(), "put the file beside the recipe or in the artifact folder") {
				t.Fatalf("Install = %v, want ErrOutsideArtifactFolders naming the artifact and the fix", err)
			}
			if _, err := os.Stat(New(root).ArtifactsPath("com.example.App", "1.0.0")); !os.IsNotExist(err) {
				t.Fatalf("a refused artifact was installed: %v", err)
			}
		})
	}
}

func TestInstallTakesAbsoluteFileURIsInsideTheRecipeFolder(t *testing.T) {
	recipes := t.TempDir()
	if err := os.WriteFile(filepath.Join(recipes, "tool.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recipe.Recipe{File: filepath.Join(recipes, "recipe.yaml"), Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "file:" + filepath.Join(recipes, "tool.sh")}}}
	if _, err := New(t.TempDir()).Install(r, sel, ""); err != nil {
		t.Fatal(err)
	}
}

// bombOf is a ZIP whose one entry declares size bytes of content, written
// raw so the test does not compress gigabytes.
func bombOf(t *testing.T, size uint64) []byte {
	t.Helper()
	var buf strings.Builder
	w := zip.NewWriter(&buf)
	f, err := w.CreateRaw(&zip.FileHeader{Name: "zeros", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: size})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

func TestInstallRefusesZIPsOverTheUnarchiveBounds(t *testing.T) {
	many := map[string]string{}
	for i := range 11 {
		many[strings.Repeat("f", i+1)] = ""
	}
	tests := []struct {
		name    string
		archive []byte
		store   func(root string) *Store
		want    string
	}{
		{"declared content over the default 2 GiB", bombOf(t, MaxUnarchivedBytes+1), New, "it unpacks to more than 2147483648 bytes"},
		{"content over the store's bound", zipOf(t, map[string]string{"a": "12345", "b": "67890"}, ""),
			func(root string) *Store { s := New(root); s.maxBytes = 9; return s }, "it unpacks to more than 9 bytes"},
		{"more entries than the store's bound", zipOf(t, many, ""),
			func(root string) *Store { s := New(root); s.maxEntries = 10; return s }, "it holds 11 entries, over the limit of 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"a.zip": tt.archive})
			r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
			_, err := tt.store(root).Install(r, &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://b/a.zip", Unarchive: "ZIP"}}}, dir)
			if !errors.Is(err, ErrArchiveTooLarge) || !strings.Contains(err.Error(), "Artifacts[0] s3://b/a.zip") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Install = %v, want ErrArchiveTooLarge naming the artifact and %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(root, "packages", "artifacts-unarchived", "com.example.App")); !os.IsNotExist(err) {
				t.Fatalf("a refused archive left files behind: %v", err)
			}
		})
	}
}
