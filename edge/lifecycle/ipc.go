package lifecycle

import (
	"context"
	"strings"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// Configurations is what the supervisor's IPC operations read of the
// configuration store (config.Store serves it): GetComponentDetails
// includes the component's configuration.
type Configurations interface {
	Lookup(ctx context.Context, component string, keyPath []string) (any, error)
}

// RegisterIPC adds the operations on the supervised components to t:
// UpdateState (ipc_update_state.go), PauseComponent and ResumeComponent
// (ipc_pause_resume.go), and the aws.greengrass.Cli operations on
// components (ipc_cli.go). Those that only read the supervisor's memory
// are fast; those that start, stop or freeze processes are slow.
func (s *Supervisor) RegisterIPC(t *op.Table, configs Configurations) {
	t.Register(wire.OpUpdateState, op.Operation{Fast: true, Handle: s.updateState})
	t.Register(wire.OpPauseComponent, op.Operation{Handle: s.pauseResume})
	t.Register(wire.OpResumeComponent, op.Operation{Handle: s.pauseResume})
	t.Register(wire.OpListComponents, op.Operation{Fast: true, Handle: s.listComponents})
	t.Register(wire.OpGetComponentDetails, op.Operation{Fast: true, Handle: func(ctx context.Context, c *op.Call) (any, error) {
		return s.getComponentDetails(ctx, c, configs)
	}})
	t.Register(wire.OpRestartComponent, op.Operation{Handle: s.restartComponent})
	t.Register(wire.OpStopComponent, op.Operation{Handle: s.stopComponent})
}

// namedComponent decodes a request naming one component; the name is
// required.
func namedComponent(c *op.Call) (string, error) {
	var req wire.ComponentRequest
	if err := c.Decode(&req); err != nil {
		return "", err
	}
	if req.ComponentName == "" {
		return "", wire.Errorf(wire.CodeInvalidArguments, "componentName is missing; name the component to %s", strings.TrimSuffix(c.Name, "Component"))
	}
	return req.ComponentName, nil
}
