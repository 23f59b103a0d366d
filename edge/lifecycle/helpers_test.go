package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// Test timings: fast enough that the package stays well under a minute,
// slow enough for a loaded CI machine running -race.
const (
	testGrace    = 200 * time.Millisecond
	testDeadline = 15 * time.Second
)

// TestMain doubles as the crashing nucleus of
// TestNewTerminatesProcessGroupsLeftByACrashedSupervisor.
func TestMain(m *testing.M) {
	if root := os.Getenv("SWARD_LIFECYCLE_CRASH_HELPER"); root != "" {
		crashHelper(root)
		return
	}
	os.Exit(m.Run())
}

func testLogger() *slog.Logger {
	if os.Getenv("SWARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testOptions(t *testing.T) Options {
	root := t.TempDir()
	return Options{
		WorkDir:   filepath.Join(root, "work"),
		LogDir:    filepath.Join(root, "logs"),
		StateDir:  filepath.Join(root, "state"),
		Logger:    testLogger(),
		StopGrace: testGrace,
	}
}

// recorder collects state changes.
type recorder struct {
	mu      sync.Mutex
	changes []StateChange
}

func (r *recorder) record(c StateChange) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

// path returns the states name went through, in order.
func (r *recorder) path(name string) []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, c := range r.changes {
		if c.Component == name {
			out = append(out, c.To)
		}
	}
	return out
}

// wantPath waits until name went exactly through want. OnStateChange runs
// after the status changes, so a WaitFor may return before the callback.
func (r *recorder) wantPath(t *testing.T, name string, want ...State) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for {
		got := r.path(name)
		if slices.Equal(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("%s went through %v, want %v", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) count(name string, to State) int {
	n := 0
	for _, s := range r.path(name) {
		if s == to {
			n++
		}
	}
	return n
}

// startSupervisor starts a supervisor that is shut down, and checked to
// shut down cleanly, when the test ends.
func startSupervisor(t *testing.T, opts Options) (*Supervisor, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.OnStateChange = rec.record
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, rec
}

func apply(t *testing.T, s *Supervisor, cs ...Component) {
	t.Helper()
	if err := s.Apply(cs); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// waitState waits until name is in one of states.
func waitState(t *testing.T, s *Supervisor, name string, states ...State) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	st, err := s.WaitFor(ctx, name, states...)
	if err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	return st
}

// stays checks that name does not leave its state within d: the only way
// to show that something does not happen.
func stays(t *testing.T, s *Supervisor, name string, d time.Duration) {
	t.Helper()
	st, _ := s.Status(name)
	var others []State
	for _, x := range []State{StateNew, StateInstalled, StateStarting, StateRunning, StateStopping, StateFinished, StateErrored, StateBroken} {
		if x != st.State {
			others = append(others, x)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if got, err := s.WaitFor(ctx, name, others...); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s left %s: now %s (%s), err %v", name, st.State, got.State, got.Reason, err)
	}
}

func script(format string, args ...any) *Step { return &Step{Script: fmt.Sprintf(format, args...)} }

// readLines returns the lines of a file, nil when it does not exist.
func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitPIDs waits until path holds n pids and returns them.
func waitPIDs(t *testing.T, path string, n int) []int {
	t.Helper()
	var pids []int
	testutil.Until(t, fmt.Sprintf("%d pids in %s", n, path), func() bool {
		pids = pids[:0]
		for _, f := range readLines(path) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		return len(pids) >= n
	})
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(string(b[i+1:]), " Z")
}

// gone reports whether pid has left no trace: not running, not a zombie.
func gone(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return errors.Is(err, os.ErrNotExist)
}
