//go:build !linux

package lifecycle

import (
	"errors"
	"os/exec"
	"syscall"
)

// Cgroups exist only on Linux: elsewhere the supervisor uses process
// groups (see cgroup.go).

var errNoCgroups = errors.New("cgroups exist only on Linux")

type cgroupTree struct{}

func openCgroupTree(string) (*cgroupTree, error) { return nil, errNoCgroups }

func (t *cgroupTree) component(string) *cgroup { return &cgroup{} }
func (t *cgroupTree) leftovers() []string      { return nil }
func (t *cgroupTree) remove()                  {}

type cgroup struct{}

func (c *cgroup) create(ResourceLimits) error              { return errNoCgroups }
func (c *cgroup) enter(*exec.Cmd) (func(int) error, error) { return nil, errNoCgroups }
func (c *cgroup) pids() []int                              { return nil }
func (c *cgroup) signal(syscall.Signal) []int              { return nil }
func (c *cgroup) setFrozen(bool) error                     { return errNoCgroups }
func (c *cgroup) frozen() bool                             { return false }
func (c *cgroup) kill() ([]int, error)                     { return nil, errNoCgroups }
func (c *cgroup) oomKills() int                            { return 0 }
func (c *cgroup) remove() error                            { return nil }
func reapPids([]int, map[int]bool)                         {}
