package nucleus

import (
	"bytes"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func TestANucleusThatIsNotRootRunsComponentsAsItselfWithAOneLineWarning(t *testing.T) {
	var logs bytes.Buffer
	o := Options{}
	if err := o.componentIdentity(slog.New(slog.NewTextHandler(&logs, nil)), 1000); err != nil {
		t.Fatal(err)
	}
	if o.RunAs != "" {
		t.Errorf("RunAs = %q; want the nucleus user (empty)", o.RunAs)
	}
	if lines := strings.Split(strings.TrimSpace(logs.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[0], "nucleus is not root: components run as its user") {
		t.Errorf("logs:\n%s\nwant one warning line", logs.String())
	}
}

func TestARootNucleusRunsComponentsAsTheDefaultUserUnlessToldOtherwise(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("creating the default user needs root; this test runs as uid %d: run it as root (CI does)", os.Geteuid())
	}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	for _, tc := range []struct {
		name string
		in   Options
		want string
	}{
		{"no --run-as", Options{}, "sward_user:sward_group"},
		{"--run-as", Options{RunAs: "nobody"}, "nobody"},
		{"--component-uids", Options{ComponentUIDs: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.in
			if err := o.componentIdentity(log, 0); err != nil {
				t.Fatal(err)
			}
			if o.RunAs != tc.want {
				t.Errorf("RunAs = %q, want %q", o.RunAs, tc.want)
			}
		})
	}
	u, err := user.Lookup(DefaultComponentUser)
	if err != nil {
		t.Fatalf("default user: %v", err)
	}
	if g, err := user.LookupGroupId(u.Gid); err != nil || g.Name != DefaultComponentGroup {
		t.Errorf("default user's group: %v %v; want %s", g, err, DefaultComponentGroup)
	}
}

func TestRootFoldersAreTraverseOnlyOrPrivateAlsoOnARootAnOlderNucleusMade(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"logs", "state", "work", "jetstream", "packages/recipes", "packages/artifacts"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := protectRoot(root); err != nil {
		t.Fatal(err)
	}
	if err := protectStore(root); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]os.FileMode{
		"": 0o711, "work": 0o711, "packages": 0o711, "packages/artifacts": 0o711, "packages/artifacts-unarchived": 0o711,
		"logs": 0o700, "state": 0o700, "jetstream": 0o700, "packages/recipes": 0o700,
	} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("<root>/%s mode %v, want %v", d, fi.Mode().Perm(), want)
		}
	}
}
