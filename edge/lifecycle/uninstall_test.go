package lifecycle

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// uninstaller is a component whose steps append their name to log; its
// Uninstall also records its environment variable UNINSTALL_ENV.
func uninstaller(version, log string, uninstall *Step) Component {
	return Component{Name: "u", Version: version, Env: map[string]string{"UNINSTALL_ENV": "from-env"}, Lifecycle: Lifecycle{
		Run:       script(`echo run-%s >> %q; exec sleep 300`, version, log),
		Shutdown:  script(`echo shutdown-%s >> %q`, version, log),
		Uninstall: uninstall,
	}}
}

func waitRemoved(t *testing.T, s *Supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := s.WaitRemoved(ctx); err != nil {
		t.Fatalf("WaitRemoved: %v", err)
	}
}

func TestUninstallRunsAfterTheStopWhenApplyRemovesTheComponent(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	log := filepath.Join(t.TempDir(), "log")
	c := uninstaller("1.0.0", log, script(`sleep 0.2; echo "uninstall-$UNINSTALL_ENV" >> %q`, log))
	apply(t, s, c)
	waitState(t, s, "u", StateRunning)
	// RUNNING is reported once the process started, not once its script ran.
	testutil.Until(t, "Run wrote its line", func() bool { return slices.Equal(readLines(log), []string{"run-1.0.0"}) })
	apply(t, s)
	waitRemoved(t, s) // returns only once Uninstall has run
	if got, want := readLines(log), []string{"run-1.0.0", "shutdown-1.0.0", "uninstall-from-env"}; !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v", got, want)
	}
	if _, ok := s.Status("u"); ok {
		t.Fatal("the removed component is still listed")
	}
}

func TestUninstallDoesNotRunWhenAnotherVersionReplacesTheComponentOrAtShutdown(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	log := filepath.Join(t.TempDir(), "log")
	uninstall := script(`echo uninstall >> %q`, log)
	apply(t, s, uninstaller("1.0.0", log, uninstall))
	waitState(t, s, "u", StateRunning)
	// RUNNING is reported once the process started, not once its script
	// ran: wait for its line too, or the Shutdown step could write first.
	testutil.Until(t, "1.0.0's Run wrote its line", func() bool { return len(readLines(log)) == 1 })
	apply(t, s, uninstaller("2.0.0", log, uninstall))
	testutil.Until(t, "2.0.0 RUNNING and its Run wrote its line", func() bool {
		st, _ := s.Status("u")
		return st.Version == "2.0.0" && st.State == StateRunning && len(readLines(log)) == 3
	})
	waitRemoved(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := readLines(log), []string{"run-1.0.0", "shutdown-1.0.0", "run-2.0.0", "shutdown-2.0.0"}; !slices.Equal(got, want) {
		t.Fatalf("steps = %v, want %v: Uninstall is for removal only", got, want)
	}
}

func TestAFailingOrTimedOutUninstallIsLoggedAndTheRemovalGoesOn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		step    *Step
		wantLog string
	}{
		{"non-zero exit", script("exit 3"), "step Uninstall exited with code 3"},
		{"timeout", &Step{Script: "exec sleep 300", Timeout: 300 * time.Millisecond}, "step Uninstall timed out after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			var mu sync.Mutex
			var logs bytes.Buffer
			opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
			s, _ := startSupervisor(t, opts)
			log := filepath.Join(t.TempDir(), "log")
			apply(t, s, uninstaller("1.0.0", log, tc.step))
			waitState(t, s, "u", StateRunning)
			apply(t, s)
			waitRemoved(t, s)
			if _, ok := s.Status("u"); ok {
				t.Fatal("the component is still listed after its Uninstall failed")
			}
			mu.Lock()
			defer mu.Unlock()
			if got := logs.String(); !strings.Contains(got, "Uninstall step failed; removing the component anyway") || !strings.Contains(got, tc.wantLog) {
				t.Fatalf("log does not say the Uninstall failed with %q:\n%s", tc.wantLog, got)
			}
		})
	}
}

func TestUninstallRunsAsTheComponentsUserAndHonoursRequiresPrivilege(t *testing.T) {
	for _, tc := range []struct {
		name       string
		privileged bool
		wantUID    string
	}{{"as the RunAs user", false, "65534"}, {"RequiresPrivilege as root", true, "0"}} {
		t.Run(tc.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				tc.wantUID = strconv.Itoa(os.Geteuid()) // a nucleus that is not root runs every step as itself
			}
			opts := testOptions(t)
			for _, d := range []string{filepath.Dir(opts.WorkDir), filepath.Dir(filepath.Dir(opts.WorkDir))} {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s, _ := startSupervisor(t, opts)
			c := Component{Name: "who", Version: "1.0.0", RunAs: "nobody", Lifecycle: Lifecycle{
				Run:       script("exec sleep 300"),
				Uninstall: &Step{Script: "id -u > uninstalled-as", RequiresPrivilege: tc.privileged},
			}}
			apply(t, s, c)
			st := waitState(t, s, "who", StateRunning)
			apply(t, s)
			waitRemoved(t, s)
			b, err := os.ReadFile(filepath.Join(st.WorkDir, "uninstalled-as"))
			if got := strings.TrimSpace(string(b)); err != nil || got != tc.wantUID {
				t.Fatalf("Uninstall ran as uid %q (%v), want %s", got, err, tc.wantUID)
			}
		})
	}
}
