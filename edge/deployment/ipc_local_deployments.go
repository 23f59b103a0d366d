package deployment

import (
	"context"
	"errors"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// listLocalDeployments answers ListLocalDeployments: every deployment the
// device has a record of.
func (e *Engine) listLocalDeployments(_ context.Context, c *op.Call) (any, error) {
	if err := c.Decode(&struct{}{}); err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.ServiceCli, c.Name, ""); err != nil {
		return nil, err
	}
	list, err := e.List()
	if err != nil {
		return nil, err
	}
	resp := wire.ListLocalDeploymentsResponse{LocalDeployments: []wire.LocalDeployment{}}
	for _, d := range list {
		resp.LocalDeployments = append(resp.LocalDeployments, localDeployment(d.DeploymentID, string(d.State), d.CreatedAt, d.Reason))
	}
	return resp, nil
}

// getLocalDeploymentStatus answers GetLocalDeploymentStatus; an unknown id
// is ResourceNotFoundError.
func (e *Engine) getLocalDeploymentStatus(_ context.Context, c *op.Call) (any, error) {
	var req wire.GetLocalDeploymentStatusRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.ServiceCli, c.Name, req.DeploymentID); err != nil {
		return nil, err
	}
	d, err := e.Get(req.DeploymentID)
	if errors.Is(err, ErrUnknownDeployment) {
		return nil, wire.Errorf(wire.CodeResourceNotFound, "deployment %q is not known on this device", req.DeploymentID)
	}
	if err != nil {
		return nil, err
	}
	return wire.GetLocalDeploymentStatusResponse{Deployment: localDeployment(d.DeploymentID, string(d.State), d.CreatedAt, d.Reason)}, nil
}
