package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// BuildLambda builds lambdas/cmd/<name> as a Lambda bootstrap for
// linux/<goarch> into a temporary folder, as `make lambdas` builds it
// (static, -tags lambda.norpc, stripped), and returns its path.
func BuildLambda(t testing.TB, name, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./lambdas/cmd/"+name)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build lambdas/cmd/%s: %v\n%s", name, err, b)
	}
	return out
}

var (
	rieOnce sync.Once
	riePath string
	rieErr  error
)

// RIE builds the Lambda runtime interface emulator (a go tool of this
// module) once per test process and returns its path.
func RIE(t testing.TB) string {
	t.Helper()
	rieOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sward-rie-")
		if err != nil {
			rieErr = err
			return
		}
		riePath = filepath.Join(dir, "aws-lambda-rie")
		cmd := exec.Command("go", "build", "-o", riePath, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
		cmd.Dir = RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			rieErr = fmt.Errorf("build aws-lambda-rie: %v\n%s", err, b)
		}
	})
	if rieErr != nil {
		t.Fatal(rieErr)
	}
	return riePath
}

// Lambda is a bootstrap running under the runtime interface emulator.
type Lambda struct {
	// URL is the invoke URL,
	// http://127.0.0.1:<port>/2015-03-31/functions/function/invocations.
	URL string
	// Started is when the emulator process started.
	Started time.Time

	cmd    *exec.Cmd
	output *testlog.Buffer
	done   chan struct{}
}

// StartLambda runs bootstrap under the emulator on free loopback ports
// with env added to the test's environment (the emulator passes its
// environment to the function), and stops it at test cleanup. The
// emulator starts the bootstrap at the first invocation, as Lambda does.
func StartLambda(t testing.TB, bootstrap string, env ...string) *Lambda {
	t.Helper()
	rie := RIE(t)
	apiPort, runtimePort := FreePort(t), FreePort(t)
	l := &Lambda{
		URL:    fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort),
		output: &testlog.Buffer{},
		done:   make(chan struct{}),
	}
	l.cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtimePort),
		bootstrap)
	l.cmd.Dir = filepath.Dir(bootstrap)
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stdout, l.cmd.Stderr = l.output, l.output
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the bootstrap is its child
	l.Started = time.Now()
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	go func() { _ = l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
			<-l.done
		}
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", l.Output())
		}
	})
	return l
}

// Invoke sends payload to the function and returns the response body and
// status. It retries while the emulator is not listening yet.
func (l *Lambda) Invoke(t testing.TB, payload []byte) ([]byte, int) {
	t.Helper()
	var body []byte
	var status int
	Eventually(t, 30*time.Second, "the emulator answers an invocation", func() error {
		select {
		case <-l.done:
			return Permanent(fmt.Errorf("aws-lambda-rie exited:\n%s", l.Output()))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(payload))
		if err != nil {
			return Permanent(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err // not listening yet
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		status = resp.StatusCode
		return err
	})
	return body, status
}

// initReport is the emulator's record of the function's init phase: from
// starting the bootstrap to its first request for an event (the REPORT
// line's "Init Duration" only times the emulator's own bookkeeping).
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// InitDuration is the init duration the emulator logged for the function
// (its INIT REPORT), or 0 before the first invocation.
func (l *Lambda) InitDuration() time.Duration {
	m := initReport.FindStringSubmatch(l.Output())
	if m == nil {
		return 0
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond))
}

// Output is everything the emulator and the function printed so far.
func (l *Lambda) Output() string { return l.output.String() }

var (
	lambdaDistMu    sync.Mutex
	lambdaDistBuilt = map[string]string{}
)

// LambdaDist returns a folder laid out as `make lambdas GOARCH=<host>`
// leaves dist/lambdas, holding <name>/bootstrap for the names given only
// (each built once per test process): what `devcloud up --lambdas` takes.
func LambdaDist(t testing.TB, names ...string) string {
	t.Helper()
	dist := t.TempDir()
	for _, name := range names {
		lambdaDistMu.Lock()
		built, ok := lambdaDistBuilt[name]
		if !ok {
			dir, err := os.MkdirTemp("", "sward-lambda-"+name+"-")
			if err != nil {
				lambdaDistMu.Unlock()
				t.Fatal(err)
			}
			built = filepath.Join(dir, "bootstrap")
			cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", built, "./lambdas/cmd/"+name)
			cmd.Dir = RepoRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				lambdaDistMu.Unlock()
				t.Fatalf("go build lambdas/cmd/%s: %v\n%s", name, err, b)
			}
			lambdaDistBuilt[name] = built
		}
		lambdaDistMu.Unlock()
		if err := os.MkdirAll(filepath.Join(dist, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(built, filepath.Join(dist, name, "bootstrap")); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}
