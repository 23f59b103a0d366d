package lifecycle

import (
	"context"
	"errors"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// updateState answers UpdateState: a component reports RUNNING (a Startup
// that leaves a service behind) or ERRORED, about itself only.
func (s *Supervisor) updateState(_ context.Context, c *op.Call) (any, error) {
	var req wire.UpdateStateRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	st := State(req.State)
	if st != StateRunning && st != StateErrored {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "state is %q; report RUNNING or ERRORED", req.State)
	}
	if err := s.ReportState(c.Caller, st); err != nil {
		if errors.Is(err, ErrInvalidReport) {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err)
		}
		return nil, wire.Errorf(wire.CodeResourceNotFound, "%v", err)
	}
	return struct{}{}, nil
}
