package devcloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/sward-iot/sward/infra/devcloud/proc"
)

// ErrNoMoto is returned when no moto endpoint is given and moto_server is
// not on PATH.
var ErrNoMoto = errors.New("moto_server is not on PATH: `make tools` installs it (pip install 'moto[server]'), or give --moto-endpoint")

// moto's fixed identity: the account its ARNs carry and the credentials
// it accepts (any; these are the conventional ones).
const (
	motoAccountID   = "123456789012"
	motoCredentials = "testing"
)

// motoStartTimeout bounds moto_server's start: a few seconds on an idle
// machine, much longer on a loaded two-core CI runner.
const motoStartTimeout = 60 * time.Second

// motoProcess is a moto_server devcloud started.
type motoProcess struct {
	url  string
	proc *proc.Process
}

// startMoto runs moto_server on a free loopback port, its output to out,
// in its own process group, and waits until it answers. moto keeps its
// state in memory only, so devcloud keeps it with moto's request recorder:
// every request is appended to the file recording, and a new moto replays
// the file before serving (restore), which brings back the buckets,
// objects, tables and items, things and certificates of the moto before.
func startMoto(out io.Writer, recording string) (*motoProcess, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	var lastErr error
	for range 3 { // a free port can be taken between the check and moto's bind
		port, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		m := &motoProcess{url: "http://127.0.0.1:" + strconv.Itoa(port)}
		cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		cmd.Env = append(os.Environ(), "MOTO_RECORDER_FILEPATH="+recording)
		cmd.Stdout, cmd.Stderr = out, out
		if m.proc, err = proc.Start(cmd); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		if lastErr = waitMoto(m.url, m.proc.Done(), motoStartTimeout); lastErr == nil {
			if lastErr = m.restore(recording); lastErr == nil {
				return m, nil
			}
		}
		m.stop()
	}
	return nil, lastErr
}

// waitMoto polls moto's API until it answers, done closes or timeout.
func waitMoto(url string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		select {
		case <-done:
			return errors.New("moto_server exited early (its output is in the devcloud log)")
		default:
		}
		resp, err := http.Get(url + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto at %s did not answer within %s: %w", url, timeout, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// restore replays the recording of an earlier moto, if there is one, and
// starts recording (appending to it).
func (m *motoProcess) restore(recording string) error {
	if err := repairRecording(recording); err != nil {
		return err
	}
	if fi, err := os.Stat(recording); err == nil && fi.Size() > 0 {
		if err := m.recorder("replay-recording"); err != nil {
			return fmt.Errorf("moto: replay %s (delete it to start with an empty moto): %w", recording, err)
		}
	}
	return m.recorder("start-recording")
}

// repairRecording rewrites the recording as one JSON request per line,
// which is what moto's replay reads (it fails the whole replay with a 500
// on a line it cannot parse). moto writes each request with two writes,
// the JSON then its newline, from each of its request threads, so
// requests answered at the same time (an artifact upload beside a
// Lambda's DynamoDB calls) can leave two requests on one line and an
// empty line: the requests are whole, only the newlines are misplaced.
// A line that holds no whole request (the last one, cut off by a kill: a
// request never answered) is dropped, and only that line. A recording
// already in shape is left as it is.
func repairRecording(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for line := range bytes.Lines(b) {
		var reqs bytes.Buffer
		dec := json.NewDecoder(bytes.NewReader(line))
		for {
			var req json.RawMessage
			if err := dec.Decode(&req); err == io.EOF {
				out.Write(reqs.Bytes())
				break
			} else if err != nil {
				break // not whole requests: the line goes
			}
			reqs.Write(req)
			reqs.WriteByte('\n')
		}
	}
	if bytes.Equal(out.Bytes(), b) {
		return nil
	}
	tmp := path + ".repair"
	if err := os.WriteFile(tmp, out.Bytes(), 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// recorder calls one operation of moto's request recorder.
func (m *motoProcess) recorder(op string) error {
	client := &http.Client{Timeout: motoReplayTimeout}
	resp, err := client.Post(m.url+"/moto-api/recorder/"+op, "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", op, resp.Status)
	}
	return nil
}

// motoReplayTimeout bounds replaying the recording, which grows with
// every request devcloud, the Lambdas and the clients make.
const motoReplayTimeout = 10 * time.Minute

// stop ends moto_server: SIGTERM to its process group, SIGKILL after 5 s.
func (m *motoProcess) stop() { m.proc.Stop(5 * time.Second) }
