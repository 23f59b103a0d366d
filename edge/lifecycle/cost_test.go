package lifecycle

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

// A running component costs the nucleus its runner goroutine, and the one
// its log file (lumberjack) starts on the first line it prints: its output
// pipes and its process exit are watched by the supervisor's one poller,
// not by goroutines (or threads) of their own.
func TestARunningComponentCostsItsRunnerAndItsLogFile(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	if s.poller == nil {
		t.Fatal("no poller: this Linux kernel offers no pollable epoll set")
	}
	const n = 20
	settle := func() int {
		// Handlers that drained a pipe or reaped a step end right after;
		// give them a moment, then count.
		time.Sleep(200 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	var cs []Component
	for i := range n {
		cs = append(cs, Component{Name: fmt.Sprintf("quiet%02d", i), Version: "1.0.0",
			Lifecycle: Lifecycle{Run: script(`echo started; exec sleep 1000`)}})
	}
	apply(t, s, cs...)
	for _, c := range cs {
		waitState(t, s, c.Name, StateRunning)
	}
	testutil.Until(t, "every component's first line logged", func() bool {
		for _, c := range cs {
			st, _ := s.Status(c.Name)
			b, _ := os.ReadFile(st.LogFile)
			if !strings.Contains(string(b), "[Run] [stdout] started") {
				return false
			}
		}
		return true
	})
	if grew := settle() - before; grew > 2*n+n/4 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d running components hold %d more goroutines, want about two each (the runner, the log file)\n%s", n, grew, buf[:runtime.Stack(buf, true)])
	}
}

// Replacing a component that prints leaves nothing of the old version
// behind: its runner ends and the new one writes to the same log file.
func TestReplacedComponentsLeaveNoGoroutineBehind(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	version := func(v int) Component {
		return Component{Name: "chatty", Version: fmt.Sprintf("1.0.%d", v),
			Lifecycle: Lifecycle{Run: script(`echo version %d; exec sleep 1000`, v)}}
	}
	run := func(v int) int {
		apply(t, s, version(v))
		st := waitState(t, s, "chatty", StateRunning)
		testutil.Until(t, fmt.Sprintf("version %d logged", v), func() bool {
			b, _ := os.ReadFile(st.LogFile)
			return strings.Contains(string(b), fmt.Sprintf("[Run] [stdout] version %d", v))
		})
		time.Sleep(200 * time.Millisecond) // the old runner's last goroutines end
		return runtime.NumGoroutine()
	}
	first := run(1)
	var last int
	for v := 2; v <= 6; v++ {
		if st, _ := s.Status("chatty"); st.Version != fmt.Sprintf("1.0.%d", v-1) {
			t.Fatalf("running version %s, want 1.0.%d", st.Version, v-1)
		}
		last = run(v)
	}
	if last > first+2 {
		t.Errorf("after 5 replacements %d goroutines, after the first version %d: each replaced version left some behind", last, first)
	}
}

// Where there is no poller (other Unix builds), a goroutine copies each
// pipe: the same lines, the same prefix.
func TestCopyLinesWithoutThePoller(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		copyLines(&out, r, "[Run] [stderr] ")
		close(done)
	}()
	fmt.Fprint(w, "one\ntw")
	fmt.Fprint(w, "o\nthree")
	w.Close()
	<-done
	r.Close()
	var bodies []string
	for line := range strings.Lines(out.String()) {
		_, body, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " [Run] [stderr] ")
		bodies = append(bodies, body)
	}
	if got := strings.Join(bodies, "|"); got != "one|two|three" {
		t.Errorf("lines = %q, want one|two|three", got)
	}
}
