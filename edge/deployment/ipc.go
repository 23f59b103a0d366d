package deployment

import (
	"time"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds the aws.greengrass.Cli deployment operations to t:
// CreateLocalDeployment (ipc_create_local_deployment.go),
// ListLocalDeployments and GetLocalDeploymentStatus
// (ipc_local_deployments.go). All are slow: they read or write the
// deployment records.
func (e *Engine) RegisterIPC(t *op.Table) {
	t.Register(wire.OpCreateLocalDeployment, op.Operation{Handle: e.createLocalDeployment})
	t.Register(wire.OpListLocalDeployments, op.Operation{Handle: e.listLocalDeployments})
	t.Register(wire.OpGetLocalDeploymentStatus, op.Operation{Handle: e.getLocalDeploymentStatus})
}

func localDeployment(id, state string, created time.Time, reason string) wire.LocalDeployment {
	d := wire.LocalDeployment{DeploymentID: id, Status: state, Reason: reason}
	if !created.IsZero() {
		d.CreatedOn = created.UTC().Format(time.RFC3339)
	}
	return d
}
