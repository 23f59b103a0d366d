package nucleus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sward-iot/sward/edge/authz"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/lifecycle"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// setComponentUsers is the registry's way to the broker: the nucleus's own
// users plus the components', in one SetUsers.
func (n *Nucleus) setComponentUsers(users []broker.User) error {
	n.usersMu.Lock()
	defer n.usersMu.Unlock()
	all := append([]broker.User(nil), n.fixedUsers...)
	for _, u := range users {
		u.ClientIDs = authz.MQTTClientIDs(strings.TrimPrefix(u.Name, authz.UserPrefix), n.opts.ThingName)
		all = append(all, u)
	}
	return n.broker.SetUsers(all, n.anonymousUser())
}

// sessions hands the supervisor each component session's broker
// credential (lifecycle.Sessions).
type sessions struct{ n *Nucleus }

var _ lifecycle.Sessions = sessions{}

// SessionEnv hands a component session its broker credential (rotated
// after the first session) and drops the previous session's subscriptions.
func (s sessions) SessionEnv(component string, restart bool) map[string]string {
	n := s.n
	if n.ipc != nil {
		n.ipc.SessionEnded(component)
	}
	env, ok, err := n.registry.Session(component)
	if err != nil {
		n.log.Error("component credential not rotated", "component", component, "error", err)
	}
	if !ok {
		return nil
	}
	return env
}

// deployments answers the IPC's aws.greengrass.Cli deployment operations.
type deployments struct{ e *deployment.Engine }

func (d deployments) CreateLocal(req wire.CreateLocalDeploymentRequest) (string, error) {
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
	st, err := d.e.Submit(deployment.Request{Document: doc, RecipeDir: req.RecipeDirectoryPath, ArtifactDir: req.ArtifactsDirectoryPath})
	if err != nil {
		return "", err
	}
	return st.DeploymentID, nil
}

func (d deployments) List() ([]ddoc.Status, error) { return d.e.List() }

func (d deployments) Get(id string) (ddoc.Status, error) {
	st, err := d.e.Get(id)
	if errors.Is(err, deployment.ErrUnknownDeployment) {
		return st, wire.Errorf(wire.CodeResourceNotFound, "deployment %q is not known on this device", id)
	}
	return st, err
}

var _ ipc.Deployments = deployments{}
