package devcloud

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"
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
	cmd  *exec.Cmd
	done chan struct{}
}

// startMoto runs moto_server on a free loopback port, its output to out,
// in its own process group, and waits until it answers.
func startMoto(out io.Writer) (*motoProcess, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNoMoto
	}
	var lastErr error
	for range 3 { // a free port can be taken between the check and moto's bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &motoProcess{url: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
		m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Stdout, m.cmd.Stderr = out, out
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		go func() { _ = m.cmd.Wait(); close(m.done) }()
		if lastErr = waitMoto(m.url, m.done, motoStartTimeout); lastErr == nil {
			return m, nil
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

// stop ends moto_server: SIGTERM to its process group, SIGKILL after 5 s.
func (m *motoProcess) stop() {
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
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
