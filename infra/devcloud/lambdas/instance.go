package lambdas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// instance is one emulator process running one bootstrap.
type instance struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	// used is false until the first invocation: that one is the cold start.
	used bool
}

// emulatorStartTimeout bounds the emulator's start (it listens within
// milliseconds on an idle machine; a loaded CI runner is much slower).
const emulatorStartTimeout = 30 * time.Second

// startInstance runs rie with bootstrap on free loopback ports and waits
// until the emulator listens. The bootstrap itself starts at the first
// invocation, as in Lambda.
func startInstance(rie, bootstrap string, env []string, out io.Writer) (*instance, error) {
	var lastErr error
	for range 3 { // a free port can be taken between the check and the bind
		api, err := freePort()
		if err != nil {
			return nil, err
		}
		runtime, err := freePort()
		if err != nil {
			return nil, err
		}
		in := &instance{
			url:  "http://127.0.0.1:" + strconv.Itoa(api) + "/2015-03-31/functions/function/invocations",
			done: make(chan struct{}),
		}
		in.cmd = exec.Command(rie,
			"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(api),
			"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtime),
			bootstrap)
		in.cmd.Dir = filepath.Dir(bootstrap)
		in.cmd.Env = env
		in.cmd.Stdout, in.cmd.Stderr = out, out
		in.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the bootstrap is its child
		if err := in.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", rie, err)
		}
		go func() { _ = in.cmd.Wait(); close(in.done) }()
		if lastErr = in.waitListening(api); lastErr == nil {
			return in, nil
		}
		in.stop()
	}
	return nil, lastErr
}

func (in *instance) waitListening(port int) error {
	deadline := time.Now().Add(emulatorStartTimeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-in.done:
			return errors.New("aws-lambda-rie exited at start (its output is in the function's log)")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws-lambda-rie not listening after %s: %w", emulatorStartTimeout, err)
		}
	}
}

func (in *instance) alive() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// functionError is the body Lambda returns for a failed invocation.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// errFunction marks a function error (handler error, panic, timeout, init
// failure): Lambda retries those for an asynchronous event.
var errFunction = errors.New("function error")

// invoke posts payload to the emulator. A function error is returned
// wrapping errFunction; any other error means the instance is unusable.
func (in *instance) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("%w: emulator answered %s (error type %q): %s", errFunction, resp.Status, resp.Header.Get("Error-Type"), bytes.TrimSpace(body))
	}
	var fe functionError
	if json.Unmarshal(body, &fe) == nil && fe.ErrorType != "" && fe.ErrorMessage != "" {
		return body, fmt.Errorf("%w: %s: %s", errFunction, fe.ErrorType, fe.ErrorMessage)
	}
	return body, nil
}

// stop ends the emulator and the bootstrap: SIGTERM to the process group,
// SIGKILL after 2 s.
func (in *instance) stop() {
	_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
		<-in.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
