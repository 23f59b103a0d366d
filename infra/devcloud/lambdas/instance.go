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
	"time"

	"github.com/sward-iot/sward/infra/devcloud/proc"
)

// instance is one emulator process running one bootstrap.
type instance struct {
	url  string
	proc *proc.Process
	logs *shipper // nil without Options.Logs
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
		api, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		runtime, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		// The emulator runs in the bootstrap's folder, so a bootstrap
		// relative to ours (--lambdas dist/lambdas) must be made absolute.
		if abs, err := filepath.Abs(bootstrap); err == nil {
			bootstrap = abs
		}
		in := &instance{url: "http://127.0.0.1:" + strconv.Itoa(api) + "/2015-03-31/functions/function/invocations"}
		cmd := exec.Command(rie,
			"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(api),
			"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtime),
			bootstrap)
		cmd.Dir = filepath.Dir(bootstrap)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = out, out
		if in.proc, err = proc.Start(cmd); err != nil { // its own group: the bootstrap is its child
			return nil, fmt.Errorf("start %s: %w", rie, err)
		}
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
		case <-in.proc.Done():
			return errors.New("aws-lambda-rie exited at start (its output is in the function's log)")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws-lambda-rie not listening after %s: %w", emulatorStartTimeout, err)
		}
	}
}

func (in *instance) alive() bool { return !in.proc.Exited() }

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
	in.proc.Stop(2 * time.Second)
	if in.logs != nil {
		in.logs.close()
	}
}
