package config

import (
	"context"
	"encoding/json"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// updateConfiguration answers UpdateConfiguration: valueToMerge is merged
// at keyPath of the caller's own configuration by Update, unless a key it
// touches was last updated with a later timestamp.
func (s *Store) updateConfiguration(ctx context.Context, c *op.Call) (any, error) {
	var req wire.UpdateConfigurationRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	var val map[string]any
	if err := json.Unmarshal(req.ValueToMerge, &val); err != nil || val == nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "valueToMerge must be a JSON object of the keys to merge at keyPath, e.g. {\"threshold\": 3}")
	}
	_, touchesACL := val[authz.ConfigKeyAccessControl]
	if (len(req.KeyPath) > 0 && req.KeyPath[0] == authz.ConfigKeyAccessControl) || (len(req.KeyPath) == 0 && touchesACL) {
		s.log.Warn("ipc request denied", "component", c.Caller, "operation", c.Name, "resource", authz.ConfigKeyAccessControl)
		return nil, wire.Errorf(wire.CodeUnauthorized, "component %s may not change its own accessControl; change it with a deployment", c.Caller)
	}
	if err := s.Update(ctx, c.Caller, req.KeyPath, val, req.Timestamp); err != nil {
		return nil, ipcError(err)
	}
	return struct{}{}, nil
}
