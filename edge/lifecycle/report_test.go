package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestStartupReportingRunningIsRunningWhileItsProcessKeepsRunning(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	m := t.TempDir()
	apply(t, s, Component{Name: "svc", Version: "1.0.0", Lifecycle: Lifecycle{
		Startup: script(`echo $$ > %q; exec sleep 300`, filepath.Join(m, "pid")),
	}})
	waitState(t, s, "svc", StateStarting)
	pid := waitPIDs(t, filepath.Join(m, "pid"), 1)[0]

	if err := s.ReportState("svc", StateRunning); err != nil {
		t.Fatalf("ReportState(RUNNING) while STARTING: %v", err)
	}
	st := waitState(t, s, "svc", StateRunning)
	if st.Reason != "reported RUNNING through UpdateState" {
		t.Errorf("reason = %q", st.Reason)
	}
	stays(t, s, "svc", 300*testGrace/200)
	if !alive(pid) {
		t.Fatal("the Startup process was killed when the component reported RUNNING")
	}
	rec.wantPath(t, "svc", StateNew, StateInstalled, StateStarting, StateRunning)

	if err := s.Stop("svc"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "svc", StateFinished)
	testutil.Until(t, "Startup process gone after stop", func() bool { return gone(pid) })
}

func TestComponentReportingErroredIsErroredAndRestarted(t *testing.T) {
	s, rec := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "svc", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`exec sleep 300`)}})
	waitState(t, s, "svc", StateRunning)

	if err := s.ReportState("svc", StateErrored); err != nil {
		t.Fatalf("ReportState(ERRORED) while RUNNING: %v", err)
	}
	testutil.Until(t, "ERRORED then RUNNING again", func() bool {
		return rec.count("svc", StateErrored) == 1 && rec.count("svc", StateRunning) == 2
	})
}

func TestReportStateRefusesOtherStatesAndIdleComponents(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "job", Version: "1.0.0", Lifecycle: Lifecycle{Run: script(`true`)}})
	waitState(t, s, "job", StateFinished)

	for _, tc := range []struct {
		name, component string
		state           State
		want            error
		mention         string
	}{
		{"finished component", "job", StateRunning, ErrInvalidReport, "FINISHED"},
		{"state a component cannot report", "job", StateBroken, ErrInvalidReport, "RUNNING or ERRORED"},
		{"unknown component", "nope", StateRunning, ErrUnknownComponent, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ReportState(tc.component, tc.state)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("ReportState(%s, %s) = %v, want %v mentioning %q", tc.component, tc.state, err, tc.want, tc.mention)
			}
		})
	}
}

// sessionsFunc is a Sessions made of one function.
type sessionsFunc func(component string, restart bool) map[string]string

func (f sessionsFunc) SessionEnv(component string, restart bool) map[string]string {
	return f(component, restart)
}

func TestSessionEnvIsFetchedPerStartAttemptAndRotatesOnRestart(t *testing.T) {
	opts := testOptions(t)
	var mu sync.Mutex
	var calls []bool
	opts.Sessions = sessionsFunc(func(name string, restart bool) map[string]string {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, restart)
		return map[string]string{"SESSION": fmt.Sprint(len(calls))}
	})
	s, _ := startSupervisor(t, opts)
	m := t.TempDir()
	out := filepath.Join(m, "sessions")
	apply(t, s, Component{Name: "svc", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: script(`echo install=$SESSION >> %q`, out),
		Run:     &Step{Script: fmt.Sprintf(`echo run=$SESSION >> %q; exec sleep 300`, out), Setenv: map[string]string{"SESSION": "recipe"}},
	}})
	waitState(t, s, "svc", StateRunning)
	testutil.Until(t, "first Run", func() bool { return len(readLines(out)) == 2 })
	if err := s.Restart("svc"); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, "second Run", func() bool { return len(readLines(out)) == 3 })

	// Install and the first Run share attempt 1; the restart is attempt 2,
	// and the recipe's Setenv never overrides a session variable.
	if got, want := strings.Join(readLines(out), ","), "install=1,run=1,run=2"; got != want {
		t.Errorf("steps saw %s, want %s", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] || !calls[1] {
		t.Errorf("SessionEnv restart flags = %v, want [false true]", calls)
	}
	_ = os.Remove(out)
}
