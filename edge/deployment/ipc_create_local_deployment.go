package deployment

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// createLocalDeployment answers CreateLocalDeployment: it queues a LOCAL
// deployment and returns its id; a request that does not make a valid
// document is InvalidArgumentsError naming the field.
func (e *Engine) createLocalDeployment(_ context.Context, c *op.Call) (any, error) {
	var req wire.CreateLocalDeploymentRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.ServiceCli, c.Name, ""); err != nil {
		return nil, err
	}
	id, err := e.createLocal(req)
	if err != nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err)
	}
	return wire.CreateLocalDeploymentResponse{DeploymentID: id}, nil
}

func (e *Engine) createLocal(req wire.CreateLocalDeploymentRequest) (string, error) {
	lr := ddoc.LocalRequest{Merge: req.RootComponentVersionsToAdd, Remove: req.RootComponentsToRemove,
		FailureHandling: ddoc.FailureHandling(req.FailureHandlingPolicy)}
	if len(req.ComponentToConfiguration) > 0 {
		raw, err := json.Marshal(req.ComponentToConfiguration)
		if err != nil {
			return "", err
		}
		if lr.UpdateConfig, err = ddoc.ParseUpdateConfig(string(raw)); err != nil {
			return "", fmt.Errorf("componentToConfiguration: %w", err)
		}
	}
	doc, err := ddoc.Local(lr)
	if err != nil {
		return "", err
	}
	if req.GroupName != "" && req.GroupName != ddoc.LocalGroup {
		return "", fmt.Errorf("groupName %q: components create LOCAL deployments only; leave it empty", req.GroupName)
	}
	st, err := e.Submit(Request{Document: doc, RecipeDir: req.RecipeDirectoryPath, ArtifactDir: req.ArtifactsDirectoryPath})
	if err != nil {
		return "", err
	}
	return st.DeploymentID, nil
}
