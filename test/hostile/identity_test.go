package hostile

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// victimRecipe is a component with a secret in its work folder, a line in
// its log and a recognizable process (sleep 3001) holding its broker
// password in the environment.
const victimRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: hostile.Victim
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: echo victim-log-line; echo s3cret > {work:path}/secret; exec sleep 3001
`

// readerRecipe tries, as an ordinary component, once the test put "go" in
// its work folder (when the victim is up), everything a component must not
// do to the nucleus or to another component, and writes "<probe>
// ok|refused" lines to results.txt in its work folder; "uid N" and
// "privileged-uid N" say who its steps ran as.
const readerRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: hostile.Reader
ComponentVersion: "1.0.0"
ComponentDependencies:
  hostile.Victim:
    VersionRequirement: ">=1.0.0"
Manifests:
  - Lifecycle:
      Install:
        RequiresPrivilege: true
        Script: id -u > {work:path}/privileged-uid
      Run: |
        probe() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name ok"; else echo "$name refused"; fi; }
        environ() {
          for p in /proc/[0-9]*; do
            if tr '\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^sleep 3001'; then
              tr '\0' '\n' < $p/environ | grep -q '^SWARD_NATS_PASSWORD=' && return 0
            fi
          done
          return 1
        }
        while [ ! -e {work:path}/go ]; do sleep 0.05; done
        {
          echo "uid $(id -u)"
          echo "privileged-uid $(cat {work:path}/privileged-uid)"
          probe read-admin-credential cat "$SWARD_ROOT/admin.json"
          probe list-root ls "$SWARD_ROOT"
          probe list-jetstream ls "$SWARD_ROOT/jetstream"
          probe list-state ls "$SWARD_ROOT/state"
          probe list-logs ls "$SWARD_ROOT/logs"
          probe read-other-log cat "$SWARD_ROOT/logs/hostile.Victim.log"
          probe list-work ls "$SWARD_ROOT/work"
          probe list-stored-recipes ls "$SWARD_ROOT/packages/recipes"
          probe read-other-work cat "$SWARD_ROOT/work/hostile.Victim/secret"
          probe read-other-environ environ
          probe write-own-work touch {work:path}/mine
        } > {work:path}/results.tmp
        mv {work:path}/results.tmp {work:path}/results.txt
        exec sleep 300
`

// results waits for the victim to be up (its log line written, its
// process running), lets the reader go, then waits for the reader's
// results.txt and parses it.
func results(t *testing.T, n *harness.Nucleus) map[string]string {
	t.Helper()
	harness.Eventually(t, 30*time.Second, "the victim's log line and process", func() error {
		b, err := os.ReadFile(filepath.Join(n.Root, "logs", "hostile.Victim.log"))
		if err != nil || !strings.Contains(string(b), "victim-log-line") {
			return fmt.Errorf("victim log: %v %q", err, b)
		}
		if !victimRunning() {
			return fmt.Errorf("no sleep 3001 process yet")
		}
		return nil
	})
	work := filepath.Join(n.Root, "work", "hostile.Reader")
	harness.Eventually(t, 30*time.Second, "the reader's work folder", func() error {
		_, err := os.Stat(work)
		return err
	})
	if err := os.WriteFile(filepath.Join(work, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(work, "results.txt")
	out := map[string]string{}
	harness.Eventually(t, 30*time.Second, "the reader's probe results", func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), " "); ok {
				out[k] = v
			}
		}
		return sc.Err()
	})
	return out
}

// victimRunning reports whether the victim's sleep 3001 runs.
func victimRunning() bool {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && string(b) == "sleep\x003001\x00" {
			return true
		}
	}
	return false
}

// expect checks probe outcomes.
func expect(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for probe, w := range want {
		if got[probe] != w {
			t.Errorf("probe %s: %q, want %q (all results: %v)", probe, got[probe], w, got)
		}
	}
}

// nucleusPrivate are the probes every component must be refused whatever
// its identity: the admin credential, the JetStream store, the state, the
// logs and the names of the other components.
var nucleusPrivate = map[string]string{
	"read-admin-credential": "refused",
	"list-root":             "refused",
	"list-jetstream":        "refused",
	"list-state":            "refused",
	"list-logs":             "refused",
	"read-other-log":        "refused",
	"list-work":             "refused",
	"list-stored-recipes":   "refused",
	"write-own-work":        "ok",
}

func mustBeRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: it checks what a nucleus running as root lets components do (CI runs as root)")
	}
}

func uidOf(t *testing.T, name string) string {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u.Uid
}

func TestComponentsRunAsTheDefaultUserAndCannotReadTheNucleusFiles(t *testing.T) {
	mustBeRoot(t)
	dir := harness.WriteRecipes(t, map[string]string{"victim.yaml": victimRecipe, "reader.yaml": readerRecipe})
	n := harness.Start(t, dir, "")
	got := results(t, n)
	expect(t, got, nucleusPrivate)
	expect(t, got, map[string]string{"uid": uidOf(t, "sward_user"), "privileged-uid": "0"})
	// Components sharing a uid are one trust domain (docs/components.md);
	// that the probes succeed here shows they work, and that
	// --component-uids is what separates components.
	expect(t, got, map[string]string{"read-other-work": "ok", "read-other-environ": "ok"})
	if _, err := os.ReadFile(filepath.Join(n.Root, "admin.json")); err != nil {
		t.Fatalf("the admin credential the reader was refused does not exist: %v", err)
	}
}

func TestComponentUIDsSeparateComponentsAndStayTheSameAcrossRestarts(t *testing.T) {
	mustBeRoot(t)
	dir := harness.WriteRecipes(t, map[string]string{"victim.yaml": victimRecipe, "reader.yaml": readerRecipe})
	root := t.TempDir()
	n := harness.StartAt(t, root, dir, "", "--component-uids")
	got := results(t, n)
	expect(t, got, nucleusPrivate)
	expect(t, got, map[string]string{"read-other-work": "refused", "read-other-environ": "refused", "privileged-uid": "0"})
	uid, err := strconv.Atoi(got["uid"])
	if err != nil || uid < 61184 || uid > 65519 {
		t.Fatalf("reader ran as uid %q; want one of 61184–65519", got["uid"])
	}
	victim := ownerOf(t, filepath.Join(root, "work", "hostile.Victim"))
	if victim == uid {
		t.Fatalf("victim and reader share uid %d", uid)
	}

	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("the nucleus did not stop")
	}
	for _, f := range []string{"results.txt", "go"} {
		if err := os.Remove(filepath.Join(root, "work", "hostile.Reader", f)); err != nil {
			t.Fatal(err)
		}
	}
	n = harness.StartAt(t, root, dir, "", "--component-uids")
	if again := results(t, n)["uid"]; again != strconv.Itoa(uid) {
		t.Fatalf("after a restart the reader runs as uid %s; want its uid %d again", again, uid)
	}
	if again := ownerOf(t, filepath.Join(root, "work", "hostile.Victim")); again != victim {
		t.Fatalf("after a restart the victim's work folder belongs to uid %d; want %d", again, victim)
	}
}

func ownerOf(t *testing.T, path string) int {
	t.Helper()
	var uid int
	harness.Eventually(t, 10*time.Second, path+" exists", func() error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		uid = int(fi.Sys().(*syscall.Stat_t).Uid)
		return nil
	})
	return uid
}

func TestRunAsWorksOnARootTheNucleusCreated(t *testing.T) {
	mustBeRoot(t)
	dir := harness.WriteRecipes(t, map[string]string{"whoami.yaml": `
RecipeFormatVersion: "2020-01-25"
ComponentName: hostile.WhoAmI
ComponentVersion: "1.0.0"
Manifests:
  - Lifecycle:
      Run: id -u > {work:path}/uid; exec sleep 300
`})
	root := t.TempDir()
	n := harness.StartAt(t, root, dir, "")
	n.WaitState("hostile.WhoAmI", 20*time.Second, "RUNNING")
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("the nucleus did not stop")
	}

	n = harness.StartAt(t, root, dir, "", "--run-as", "nobody")
	n.WaitState("hostile.WhoAmI", 20*time.Second, "RUNNING")
	want := uidOf(t, "nobody")
	harness.Eventually(t, 10*time.Second, "the component writes its uid", func() error {
		b, err := os.ReadFile(filepath.Join(root, "work", "hostile.WhoAmI", "uid"))
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != want {
			return fmt.Errorf("component ran as uid %s; want nobody's %s", got, want)
		}
		return nil
	})
}

func TestSampleComponentsRunWithTheirOwnUIDs(t *testing.T) {
	mustBeRoot(t)
	n := harness.Start(t, filepath.Join(harness.RepoRoot(), "recipes"), harness.SampleArtifacts(t), "--component-uids")
	comps, err := n.Client().Components(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(comps) < 5 {
		t.Fatalf("want the 5 sample components, the nucleus runs %d: %+v", len(comps), comps)
	}
	owners := map[int]string{}
	for _, comp := range comps {
		n.WaitState(comp.Name, 60*time.Second, "RUNNING", "FINISHED")
		uid := ownerOf(t, filepath.Join(n.Root, "work", comp.Name))
		if other, ok := owners[uid]; ok || uid < 61184 || uid > 65519 {
			t.Errorf("%s runs as uid %d (already %q's); want its own uid from 61184–65519", comp.Name, uid, other)
		}
		owners[uid] = comp.Name
	}
}
