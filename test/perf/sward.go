package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sward-iot/sward/edge/control"
)

// startTimeout bounds how long a nucleus may take to answer on its control
// API: two orders of magnitude above the goal, so only a broken start hits it.
const startTimeout = 20 * time.Second

// nucleus is one `sward run` in a fresh root folder on free loopback ports.
type nucleus struct {
	*process
	root     string
	natsAddr string
	mqttAddr string
	started  time.Time // just before exec
}

// startNucleus runs `sward run` with a new root under work; recipesDir may be empty.
func startNucleus(bin, work, recipesDir string, extra ...string) (*nucleus, error) {
	root, err := os.MkdirTemp(work, "root-")
	if err != nil {
		return nil, err
	}
	natsPort, err1 := freePort()
	mqttPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	n := &nucleus{root: root,
		natsAddr: "127.0.0.1:" + strconv.Itoa(natsPort),
		mqttAddr: "127.0.0.1:" + strconv.Itoa(mqttPort)}
	argv := []string{bin, "run", "--root", root, "--nats-listen", n.natsAddr, "--mqtt-listen", n.mqttAddr}
	if recipesDir != "" {
		argv = append(argv, "--recipes", recipesDir)
	}
	argv = append(argv, extra...)
	n.started = time.Now()
	n.process, err = startProcess("sward", filepath.Join(work, filepath.Base(root)+".out"), argv...)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// dial waits for the admin credential file, then connects to the control
// API and waits until it answers a component list.
func (n *nucleus) dial(timeout time.Duration) (*control.Client, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := n.exited(); err != nil {
			return nil, err
		}
		if _, err := os.Stat(control.CredentialPath(n.root)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no admin credential at %s after %s", control.CredentialPath(n.root), timeout)
		}
		time.Sleep(pollInterval)
	}
	for {
		c, err := control.Dial(n.root)
		if err == nil {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_, err = c.Components(ctx)
			cancel()
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		if err := n.exited(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("control API of %s does not answer after %s: %w", n.root, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
