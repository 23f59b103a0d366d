package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// mosquittoConf is the reference broker's whole configuration: one loopback
// listener, anonymous clients, no persistence file, quiet logs, and no limit
// on a subscriber's queue. With Debian's default max_queued_messages 1000,
// mosquitto drops what a slow subscriber cannot take (a third to two thirds
// of the messages in trial runs), which would compare dropping with
// delivering; unlimited is bounded here by the run's message count. The rest
// (max_inflight_messages 20, …) stays at the defaults.
const mosquittoConf = `# written by sward test/perf
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
`

// findMosquitto returns the mosquitto binary, installing Debian's package
// with apt-get when it is missing and the harness runs as root.
func findMosquitto() (string, error) {
	if path, err := lookMosquitto(); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("mosquitto is not installed: run `apt-get install -y mosquitto` as root, or run make perf as root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("mosquitto is not installed and there is no apt-get: install mosquitto by hand")
	}
	progress("mosquitto not found: running apt-get update && apt-get install -y mosquitto")
	for _, argv := range [][]string{{"apt-get", "update"}, {"apt-get", "install", "-y", "mosquitto"}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%v: %w", argv, err)
		}
	}
	// The package may start a system service on port 1883; the harness runs
	// its own instance, so stop that one (failure means it was not running).
	progress("stopping the mosquitto system service the package may have started (errors ignored)")
	_ = exec.Command("service", "mosquitto", "stop").Run()
	return lookMosquitto()
}

// lookMosquitto searches PATH, then /usr/sbin where Debian puts it (often not
// on a non-root PATH).
func lookMosquitto() (string, error) {
	if path, err := exec.LookPath("mosquitto"); err == nil {
		return path, nil
	}
	const debian = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("mosquitto not found on PATH or at /usr/sbin/mosquitto")
}

// mosquitto is the harness's own mosquitto on a free loopback port.
type mosquitto struct {
	*process
	addr string
}

func startMosquitto(bin, work string) (*mosquitto, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return runMosquitto(bin, work, port, fmt.Appendf(nil, mosquittoConf, port))
}

// runMosquitto starts mosquitto with conf (listening on port) in work and
// waits until it accepts connections.
func runMosquitto(bin, work string, port int, text []byte) (*mosquitto, error) {
	conf := filepath.Join(work, "mosquitto.conf")
	if err := os.WriteFile(conf, text, 0o644); err != nil {
		return nil, err
	}
	p, err := startProcess("mosquitto", filepath.Join(work, "mosquitto.out"), bin, "-c", conf)
	if err != nil {
		return nil, err
	}
	m := &mosquitto{process: p, addr: "127.0.0.1:" + strconv.Itoa(port)}
	if err := waitTCP(p, m.addr, 10*time.Second); err != nil {
		return nil, errors.Join(err, p.stop())
	}
	return m, nil
}
