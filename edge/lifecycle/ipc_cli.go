package lifecycle

import (
	"context"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// The aws.greengrass.Cli operations on components: each needs an
// aws.greengrass.Cli policy granting it (naming the component, for those
// on one component).

// listComponents answers ListComponents.
func (s *Supervisor) listComponents(_ context.Context, c *op.Call) (any, error) {
	if err := c.Decode(&struct{}{}); err != nil {
		return nil, err
	}
	if err := c.Authorize(authz.ServiceCli, c.Name, ""); err != nil {
		return nil, err
	}
	list := s.List()
	resp := wire.ListComponentsResponse{Components: make([]wire.ComponentDetails, 0, len(list))}
	for _, st := range list {
		resp.Components = append(resp.Components, wire.ComponentDetails{ComponentName: st.Name, Version: st.Version, State: string(st.State)})
	}
	return resp, nil
}

// cliComponent decodes and authorizes a Cli operation on one component and
// returns the component's status.
func (s *Supervisor) cliComponent(c *op.Call) (Status, error) {
	name, err := namedComponent(c)
	if err != nil {
		return Status{}, err
	}
	if err := c.Authorize(authz.ServiceCli, c.Name, name); err != nil {
		return Status{}, err
	}
	st, ok := s.Status(name)
	if !ok {
		return Status{}, wire.Errorf(wire.CodeComponentNotFound, "component %s is not deployed on this device", name)
	}
	return st, nil
}

// getComponentDetails answers GetComponentDetails, with the component's
// configuration.
func (s *Supervisor) getComponentDetails(ctx context.Context, c *op.Call, configs Configurations) (any, error) {
	st, err := s.cliComponent(c)
	if err != nil {
		return nil, err
	}
	d := wire.ComponentDetails{ComponentName: st.Name, Version: st.Version, State: string(st.State)}
	if cfg, err := configs.Lookup(ctx, st.Name, nil); err == nil {
		d.Configuration, _ = cfg.(map[string]any)
	}
	return wire.GetComponentDetailsResponse{ComponentDetails: d}, nil
}

// restartComponent answers RestartComponent; a refusal is a FAILED status,
// not an error, as in Greengrass.
func (s *Supervisor) restartComponent(_ context.Context, c *op.Call) (any, error) {
	status, msg, err := s.cliCommand(c, s.Restart)
	if err != nil {
		return nil, err
	}
	return wire.RestartComponentResponse{RestartStatus: status, Message: msg}, nil
}

// stopComponent answers StopComponent, like restartComponent.
func (s *Supervisor) stopComponent(_ context.Context, c *op.Call) (any, error) {
	status, msg, err := s.cliCommand(c, s.Stop)
	if err != nil {
		return nil, err
	}
	return wire.StopComponentResponse{StopStatus: status, Message: msg}, nil
}

// cliCommand runs command on the component c names: the status and
// message to answer with, or an error when the request is refused.
func (s *Supervisor) cliCommand(c *op.Call, command func(name string) error) (status, message string, err error) {
	st, err := s.cliComponent(c)
	if err != nil {
		return "", "", err
	}
	if err := command(st.Name); err != nil {
		return wire.RequestFailed, err.Error(), nil
	}
	return wire.RequestSucceeded, "", nil
}
