package lifecycle

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestHardDependentRunStartsOnlyAfterDependencyIsRunning(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	release := filepath.Join(m, "release")
	apply(t, s,
		Component{Name: "app", Version: "1.0.0", Dependencies: []Dependency{{Name: "db", Hard: true}},
			Lifecycle: Lifecycle{Run: script(`date +%%s%%N > %q; exec sleep 300`, filepath.Join(m, "app.started"))}},
		Component{Name: "db", Version: "1.0.0", Lifecycle: Lifecycle{
			Install: script(`while [ ! -f %q ]; do sleep 0.01; done`, release),
			Startup: script(`date +%%s%%N > %q; sleep 300 &`, filepath.Join(m, "db.running")),
		}},
	)
	testutil.Until(t, "app waiting for db", func() bool {
		st, _ := s.Status("app")
		return st.State == StateInstalled && strings.Contains(st.Reason, "HARD dependency db (NEW)")
	})
	if fileExists(filepath.Join(m, "app.started")) {
		t.Fatal("app ran before its HARD dependency was RUNNING")
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "app", StateRunning)
	stamp := func(f string) int64 {
		var n int64
		testutil.Until(t, f, func() bool {
			b, _ := os.ReadFile(filepath.Join(m, f))
			var err error
			n, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return err == nil
		})
		return n
	}
	if db, app := stamp("db.running"), stamp("app.started"); app < db {
		t.Errorf("app started at %d, before db's Startup finished at %d", app, db)
	}
}

func TestHardDependentRestartsWhenItsDependencyRestarts(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	starts := filepath.Join(m, "app.starts")
	apply(t, s,
		Component{Name: "db", Version: "1.0.0", Lifecycle: Lifecycle{Run: script("exec sleep 300")}},
		Component{Name: "app", Version: "1.0.0", Dependencies: []Dependency{{Name: "db", Hard: true}},
			Lifecycle: Lifecycle{Run: script(`echo start >> %q; exec sleep 300`, starts)}},
	)
	waitState(t, s, "app", StateRunning)
	testutil.Until(t, "app started once", func() bool { return len(readLines(starts)) == 1 })
	if err := s.Restart("db"); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, "app started twice", func() bool { return len(readLines(starts)) == 2 })
	st := waitState(t, s, "app", StateRunning)
	if st.Restarts != 1 || rec.count("app", StateStopping) != 1 {
		t.Errorf("app restarts = %d, STOPPING %d times; want 1 and 1", st.Restarts, rec.count("app", StateStopping))
	}
}

func TestSoftDependencyImposesNoOrder(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s,
		Component{Name: "slow", Version: "1.0.0", Lifecycle: Lifecycle{
			Install: script(`while [ ! -f %q ]; do sleep 0.01; done`, filepath.Join(m, "never")),
		}},
		Component{Name: "app", Version: "1.0.0", Dependencies: []Dependency{{Name: "slow", Hard: false}},
			Lifecycle: Lifecycle{Run: script("exec sleep 300")}},
	)
	waitState(t, s, "app", StateRunning)
	if st, _ := s.Status("slow"); st.State != StateNew {
		t.Errorf("slow = %s, want still NEW", st.State)
	}
}

func TestMissingHardDependencyLeavesOnlyItsDependentWaiting(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s,
		Component{Name: "orphan", Version: "1.0.0", Dependencies: []Dependency{{Name: "ghost", Hard: true}},
			Lifecycle: Lifecycle{Run: script("exec sleep 300")}},
		Component{Name: "other", Version: "1.0.0", Lifecycle: Lifecycle{Run: script("exec sleep 300")}},
	)
	waitState(t, s, "other", StateRunning)
	testutil.Until(t, "orphan's reason names the missing dependency", func() bool {
		st, _ := s.Status("orphan")
		return st.State == StateInstalled && st.Reason == "waiting for HARD dependency ghost (not deployed)"
	})
}

func TestShutdownStopsDependentsBeforeTheirDependencies(t *testing.T) {
	opts := testOptions(t)
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	order := filepath.Join(t.TempDir(), "order")
	comp := func(name string, deps ...string) Component {
		c := Component{Name: name, Version: "1.0.0", Lifecycle: Lifecycle{
			Run:      script("exec sleep 300"),
			Shutdown: script(`echo %s >> %q`, name, order),
		}}
		for _, d := range deps {
			c.Dependencies = append(c.Dependencies, Dependency{Name: d, Hard: true})
		}
		return c
	}
	apply(t, s, comp("base"), comp("mid", "base"), comp("top", "mid", "base"))
	waitState(t, s, "top", StateRunning)
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(readLines(order), " "); got != "top mid base" {
		t.Errorf("Shutdown order = %q, want %q", got, "top mid base")
	}
}
