package lambdas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/infra/devcloud/template"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// build compiles pkg for linux on this machine's architecture to out.
func build(t *testing.T, out, pkg string, lambda bool) {
	t.Helper()
	args := []string{"build", "-o", out}
	if lambda {
		args = append(args, "-tags", "lambda.norpc")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// shipped records what the service hands its LogSink.
type shipped struct {
	mu     sync.Mutex
	events map[string][]LogEvent // by group + " " + stream
}

func (s *shipped) sink(group, stream string, events []LogEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[group+" "+stream] = append(s.events[group+" "+stream], events...)
	return nil
}

// service runs the echo function (build "echo") and a function whose build
// is missing ("gone"), with retries after 10 and 20 ms.
func service(t *testing.T) (*Service, *testlog.Buffer) {
	t.Helper()
	s, requests, _ := serviceWithLogs(t)
	return s, requests
}

func serviceWithLogs(t *testing.T) (*Service, *testlog.Buffer, *shipped) {
	t.Helper()
	logs := &shipped{events: map[string][]LogEvent{}}
	dir := t.TempDir()
	rie := filepath.Join(dir, "aws-lambda-rie")
	build(t, rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)
	build(t, filepath.Join(dir, "dist", "echo", "bootstrap"), "./testdata/echo", true)
	requests := &testlog.Buffer{}
	s, err := New(Options{
		RIE: rie, BuildDir: filepath.Join(dir, "dist"), LogDir: filepath.Join(dir, "logs"),
		Env:         map[string]string{"SWARD_TEST": "from devcloud"},
		RetryDelays: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
		Requests:    slog.New(slog.NewTextHandler(requests, nil)),
		Logs:        logs.sink,
	}, []template.Function{
		{Name: "echo", Arn: "arn:aws:lambda:us-east-1:123456789012:function:echo", Build: "echo", TimeoutSeconds: 5, MemoryMB: 128, LogGroup: "/aws/lambda/echo"},
		{Name: "gone", Arn: "arn:aws:lambda:us-east-1:123456789012:function:gone", Build: "gone", TimeoutSeconds: 5, MemoryMB: 128},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s, requests, logs
}

func TestFunctionsRunUnderTheEmulatorAndAWarmInstanceIsReused(t *testing.T) {
	s, requests := service(t)
	ctx := context.Background()
	var pids []float64
	for range 2 {
		out, err := s.Invoke(ctx, "arn:aws:lambda:us-east-1:123456789012:function:echo", []byte(`{"n":1}`), "test")
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			PID float64
			Env string
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if resp.Env != "from devcloud" {
			t.Errorf("SWARD_TEST in the function = %q, want the options' value", resp.Env)
		}
		pids = append(pids, resp.PID)
	}
	if pids[0] != pids[1] {
		t.Errorf("two invocations in a row ran in processes %v: want the warm one reused", pids)
	}
	if log := requests.String(); strings.Count(log, "cold=true") != 1 || strings.Count(log, "cold=false") != 1 {
		t.Errorf("request log should show one cold and one warm invocation:\n%s", log)
	}
}

func TestWhatAFunctionPrintsGoesToItsLogGroupUnderAStreamPerInstance(t *testing.T) {
	s, _, logs := serviceWithLogs(t)
	if _, err := s.Invoke(context.Background(), "echo", []byte(`{"n":7}`), "test"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the function's line shipped", func() error {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		for key, events := range logs.events {
			group, stream, _ := strings.Cut(key, " ")
			for _, e := range events {
				if e.Message == `echo handling {"n":7}` {
					if group != "/aws/lambda/echo" || !regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`).MatchString(stream) {
						return fmt.Errorf("shipped to %q %q, want /aws/lambda/echo and a Lambda-style stream", group, stream)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("not among %v", logs.events)
	})
}

func TestEachInstanceRunsOneInvocationAtATimeUpToMaxInstances(t *testing.T) {
	s, _ := service(t) // MaxInstances 2
	type result struct {
		pid        float64
		start, end time.Time
	}
	results := make(chan result, 3)
	for range 3 {
		go func() {
			start := time.Now()
			out, err := s.Invoke(context.Background(), "echo", []byte(`{"sleepMs":1500}`), "test")
			if err != nil {
				t.Error(err)
				results <- result{}
				return
			}
			var resp struct{ PID float64 }
			_ = json.Unmarshal(out, &resp)
			results <- result{resp.PID, start, time.Now()}
		}()
	}
	var rs []result
	for range 3 {
		rs = append(rs, testutil.Receive(t, results, "an invocation's result"))
	}
	pids := map[float64]int{}
	for _, r := range rs {
		pids[r.pid]++
	}
	if len(pids) != 2 {
		t.Errorf("three concurrent invocations ran in processes %v: want two instances (MaxInstances), one reused", pids)
	}
	// The third waited for an instance: it took at least two sleeps.
	slowest := rs[0]
	for _, r := range rs {
		if r.end.Sub(r.start) > slowest.end.Sub(slowest.start) {
			slowest = r
		}
	}
	if took := slowest.end.Sub(slowest.start); took < 3*time.Second {
		t.Errorf("the slowest of three 1.5 s invocations on two instances took %s: want ≥ 3 s (it waits for a free instance)", took)
	}
}

func TestAFailingEventIsTriedThreeTimesThenDropped(t *testing.T) {
	s, requests := service(t)
	if _, err := s.InvokeAsync("echo", []byte(`{"fail":true}`), "test"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the event dropped after its retries", func() error {
		if !strings.Contains(requests.String(), "lambda event dropped after its retries") {
			return errors.New("not yet")
		}
		return nil
	})
	log := requests.String()
	if n := strings.Count(log, `msg="lambda invoke"`); n != 3 {
		t.Errorf("%d invocations, want 3 (the event and two retries):\n%s", n, log)
	}
	if !strings.Contains(log, "asked to fail") {
		t.Errorf("the request log does not carry the function's error:\n%s", log)
	}
}

func TestInvokeAsyncRefusesUnknownAndFailedFunctions(t *testing.T) {
	s, _ := service(t)
	if _, err := s.InvokeAsync("arn:aws:lambda:us-east-1:123456789012:function:other", []byte(`{}`), "test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown function: err = %v, want ErrNotFound", err)
	}
	_, err := s.InvokeAsync("gone", []byte(`{}`), "test")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "make lambdas GOARCH=") {
		t.Errorf("function without a build: err = %v, want ErrFailed saying to run make lambdas", err)
	}
}

func TestRetryDelaysAreAtMostLambdasTwoRetriesNoneNegative(t *testing.T) {
	for _, tt := range []struct {
		name    string
		delays  []time.Duration
		wantErr string
	}{
		{"Lambda's own", DefaultRetryDelays, ""},
		{"none: no retry", []time.Duration{}, ""},
		{"immediate", []time.Duration{0}, ""},
		{"three retries", []time.Duration{time.Second, time.Second, time.Second}, "at most 2 times"},
		{"a negative wait", []time.Duration{-time.Second}, "is negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRetryDelays(tt.delays)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckRetryDelays(%v) = %v, want %q", tt.delays, err, tt.wantErr)
			}
			if _, err := New(Options{RetryDelays: tt.delays}, nil); (err != nil) != (tt.wantErr != "") {
				t.Errorf("New with RetryDelays %v: err = %v, want an error %v", tt.delays, err, tt.wantErr != "")
			}
		})
	}
}

func TestABuildFolderRelativeToTheWorkingFolderRuns(t *testing.T) {
	dir := t.TempDir()
	rie := filepath.Join(dir, "aws-lambda-rie")
	build(t, rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie", false)
	build(t, filepath.Join(dir, "dist", "echo", "bootstrap"), "./testdata/echo", true)
	t.Chdir(dir)
	s, err := New(Options{
		RIE: rie, BuildDir: "dist", LogDir: filepath.Join(dir, "logs"),
		Requests: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
		Logs:     func(string, string, []LogEvent) error { return nil },
	}, []template.Function{
		{Name: "echo", Arn: "arn:aws:lambda:us-east-1:123456789012:function:echo", Build: "echo", TimeoutSeconds: 5, MemoryMB: 128},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if out, err := s.Invoke(context.Background(), "arn:aws:lambda:us-east-1:123456789012:function:echo", []byte(`{"n":1}`), "test"); err != nil {
		t.Fatalf("invoke with BuildDir \"dist\" (relative, as devcloud's default --lambdas): %v (%s)", err, out)
	}
}
