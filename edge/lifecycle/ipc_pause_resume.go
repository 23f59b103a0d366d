package lifecycle

import (
	"context"
	"errors"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// pauseResume answers PauseComponent and ResumeComponent (Greengrass's
// component lifecycle service): the named component's cgroup is frozen or
// thawed. The caller needs an aws.greengrass.ipc.lifecycle policy naming
// the component, even to pause itself, as in Greengrass.
func (s *Supervisor) pauseResume(_ context.Context, c *op.Call) (any, error) {
	name, err := namedComponent(c)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.ServiceLifecycle, c.Name, name); err != nil {
		return nil, err
	}
	f := s.Pause
	if c.Name == wire.OpResumeComponent {
		f = s.Resume
	}
	switch err := f(name); {
	case errors.Is(err, ErrUnknownComponent):
		return nil, wire.Errorf(wire.CodeResourceNotFound, "component %s is not deployed on this device", name)
	case errors.Is(err, ErrNotPausable):
		return nil, wire.Errorf(wire.CodeService, "%s", err.Error())
	case err != nil:
		return nil, err
	}
	return struct{}{}, nil
}
