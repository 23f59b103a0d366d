package config

import (
	"context"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// getConfiguration answers GetConfiguration. Like Greengrass, a component
// may read any component's configuration (aws.greengrass.ipc.config is
// not checked); it writes only its own.
func (s *Store) getConfiguration(ctx context.Context, c *op.Call) (any, error) {
	var req wire.GetConfigurationRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if len(req.KeyPath) > MaxDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has %d keys; configurations are at most %d deep", len(req.KeyPath), MaxDepth)
	}
	name := req.ComponentName
	if name == "" {
		name = c.Caller
	}
	node, err := s.Lookup(ctx, name, req.KeyPath)
	if err != nil {
		return nil, ipcError(err)
	}
	resp := wire.GetConfigurationResponse{ComponentName: name}
	if m, ok := node.(map[string]any); ok {
		resp.Value = m
	} else {
		// A leaf comes back as {"<last key>": value}, as Greengrass does.
		resp.Value = map[string]any{req.KeyPath[len(req.KeyPath)-1]: node}
	}
	return resp, nil
}
