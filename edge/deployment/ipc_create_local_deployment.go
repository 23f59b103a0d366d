package deployment

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/strictjson"
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
	doc, err := localDocument(req)
	if err != nil {
		return "", err
	}
	st, err := e.Submit(Request{Document: doc, RecipeDir: req.RecipeDirectoryPath, ArtifactDir: req.ArtifactsDirectoryPath})
	if err != nil {
		return "", err
	}
	return st.DeploymentID, nil
}

// localDocument builds and validates the LOCAL-group document req asks
// for; errors name the request's fields.
func localDocument(req wire.CreateLocalDeploymentRequest) (*ddoc.Document, error) {
	if req.GroupName != "" && req.GroupName != ddoc.LocalGroup {
		return nil, fmt.Errorf("groupName %q: components create LOCAL deployments only; leave it empty", req.GroupName)
	}
	doc := ddoc.New(ddoc.LocalGroup)
	if req.FailureHandlingPolicy != "" {
		doc.Policies.FailureHandling = ddoc.FailureHandling(req.FailureHandlingPolicy)
	}
	for name, version := range req.RootComponentVersionsToAdd {
		doc.Components[name] = ddoc.Component{Version: version}
	}
	var p strictjson.Problems
	for _, name := range slices.Sorted(maps.Keys(req.ComponentToConfiguration)) {
		path := strictjson.Key("componentToConfiguration", name)
		tree, err := strictjson.Parse(req.ComponentToConfiguration[name], path, path)
		if err != nil {
			p.Merge(err)
			continue
		}
		u, err := ddoc.ConfigurationUpdateFrom(path, tree)
		if err != nil {
			p.Merge(err)
			continue
		}
		c := doc.Components[name]
		c.ConfigurationUpdate = u
		doc.Components[name] = c
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if len(req.RootComponentsToRemove) > 0 {
		doc.ComponentsToRemove = slices.Clone(req.RootComponentsToRemove)
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return doc, nil
}
