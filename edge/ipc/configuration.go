package ipc

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/sward-iot/sward/edge/authz"

	"github.com/sward-iot/sward/edge/config"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// The configuration operations are thin: edge/config owns the cache, the
// timestamp rule of UpdateConfiguration and the merge; these handlers
// decode, keep a component off its own accessControl, and turn the store's
// errors into IPC error codes.

// getConfiguration answers GetConfiguration. Like Greengrass, a component
// may read any component's configuration; it writes only its own.
func getConfiguration(s *Server, ctx context.Context, r request) (any, error) {
	var req wire.GetConfigurationRequest
	if err := decode(r.body, &req); err != nil {
		return nil, err
	}
	if len(req.KeyPath) > config.MaxDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has %d keys; configurations are at most %d deep", len(req.KeyPath), config.MaxDepth)
	}
	name := req.ComponentName
	if name == "" {
		name = r.caller
	}
	node, err := s.opts.Config.Lookup(ctx, name, req.KeyPath)
	if err != nil {
		return nil, configError(err)
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

// updateConfiguration answers UpdateConfiguration: valueToMerge is merged
// at keyPath of the caller's own configuration by config.Store.Update,
// unless a key it touches was last updated with a later timestamp.
func updateConfiguration(s *Server, ctx context.Context, r request) (any, error) {
	var req wire.UpdateConfigurationRequest
	if err := decode(r.body, &req); err != nil {
		return nil, err
	}
	var val map[string]any
	if err := json.Unmarshal(req.ValueToMerge, &val); err != nil || val == nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "valueToMerge must be a JSON object of the keys to merge at keyPath, e.g. {\"threshold\": 3}")
	}
	_, touchesACL := val[authz.ConfigKeyAccessControl]
	if (len(req.KeyPath) > 0 && req.KeyPath[0] == authz.ConfigKeyAccessControl) || (len(req.KeyPath) == 0 && touchesACL) {
		s.log.Warn("ipc request denied", "component", r.caller, "operation", wire.OpUpdateConfiguration, "resource", authz.ConfigKeyAccessControl)
		return nil, wire.Errorf(wire.CodeUnauthorized, "component %s may not change its own accessControl; change it with a deployment", r.caller)
	}
	if err := s.opts.Config.Update(ctx, r.caller, req.KeyPath, val, req.Timestamp); err != nil {
		return nil, configError(err)
	}
	return struct{}{}, nil
}

// configError maps the store's errors to IPC error codes; others pass
// through as service errors.
func configError(err error) error {
	switch {
	case errors.Is(err, config.ErrNotFound):
		return wire.Errorf(wire.CodeResourceNotFound, "%v", err)
	case errors.Is(err, config.ErrStale):
		return wire.Errorf(wire.CodeFailedUpdateConditionCheck, "%v", err)
	case errors.Is(err, config.ErrInvalidValue), errors.Is(err, config.ErrBadPointer):
		return wire.Errorf(wire.CodeInvalidArguments, "%v", err)
	case errors.Is(err, config.ErrConflict):
		return wire.Errorf(wire.CodeService, "%v", err)
	}
	return err
}
