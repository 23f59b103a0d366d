package lifecycle

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRunAsAppliesToNonPrivilegedStepsWhenTheNucleusIsRoot(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t)
	// The step's user must be able to reach its work folder.
	for _, d := range []string{filepath.Dir(opts.WorkDir), filepath.Dir(filepath.Dir(opts.WorkDir))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts.RunAs = "nobody"
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "who", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: script(`id -u > plain`),
		Run:     &Step{Script: `id -u > privileged`, RequiresPrivilege: true},
	}})
	st := waitState(t, s, "who", StateFinished)
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(st.WorkDir, f))
		return strings.TrimSpace(string(b))
	}
	if got := read("plain"); got != "65534" {
		t.Errorf("non-privileged step ran as uid %q, want nobody (65534)", got)
	}
	if got := read("privileged"); got != "0" {
		t.Errorf("privileged step ran as uid %q, want root", got)
	}
}

func TestPrivilegedStepWithoutRootRunsAsNucleusUserAndWarnsOncePerComponent(t *testing.T) {
	opts := testOptions(t)
	var mu sync.Mutex
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	s, _ := startSupervisor(t, opts)
	s.isRoot = false // as if the nucleus ran as an ordinary user
	priv := func(f string) *Step { return &Step{Script: "touch " + f, RequiresPrivilege: true} }
	apply(t, s, Component{Name: "p", Version: "1.0.0", Lifecycle: Lifecycle{Install: priv("a"), Run: priv("b")}})
	st := waitState(t, s, "p", StateFinished)
	if !fileExists(filepath.Join(st.WorkDir, "b")) {
		t.Fatal("privileged steps did not run")
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "requires privilege but nucleus is not root"); n != 1 {
		t.Errorf("warned %d times, want once per component:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestComponentRunAsOverridesTheSupervisorDefault(t *testing.T) {
	requireRoot(t)
	opts := testOptions(t)
	for _, d := range []string{filepath.Dir(opts.WorkDir), filepath.Dir(filepath.Dir(opts.WorkDir))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := startSupervisor(t, opts)
	apply(t, s, Component{Name: "who", Version: "1.0.0", RunAs: "nobody", Lifecycle: Lifecycle{Run: script(`id -u > uid`)}})
	st := waitState(t, s, "who", StateFinished)
	if b, _ := os.ReadFile(filepath.Join(st.WorkDir, "uid")); strings.TrimSpace(string(b)) != "65534" {
		t.Fatalf("component with RunAs nobody ran as uid %q", b)
	}
}

func TestAnUnknownRunAsUserIsRefusedByApply(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	err := s.Apply([]Component{{Name: "x", Version: "1.0.0", RunAs: "no-such-user-here", Lifecycle: Lifecycle{Run: script("true")}}})
	if !errors.Is(err, ErrInvalidComponent) || !strings.Contains(err.Error(), "no-such-user-here") {
		t.Fatalf("Apply = %v, want ErrInvalidComponent naming the user", err)
	}
}

// requireRoot fails t unless the tests run as root, which switching users
// needs: `make test` runs as root in CI, and so must a developer's run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("switching users needs root, and this test runs as uid %d: run the unit tests as root (sudo make test)", os.Geteuid())
	}
}
