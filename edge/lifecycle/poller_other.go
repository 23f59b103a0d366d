//go:build unix && !linux

package lifecycle

import (
	"errors"
	"os"
)

// poller is Linux's; elsewhere every pipe and process has a goroutine.
type poller struct{}

func newPoller() *poller { return nil }

func (p *poller) close() {}

func (p *poller) pipe(*componentLog, string) (*os.File, error) {
	return nil, errors.New("no poller outside Linux")
}

func (p *poller) waitExit(int, func() error, func(error)) bool { return false }
