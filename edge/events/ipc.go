package events

import (
	"context"

	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds the subscription operations to t. All are fast: they
// touch only the registry's memory.
func (e *Registry) RegisterIPC(t *op.Table) {
	t.Register(wire.OpSubscribeToConfigurationUpdate, op.Operation{Fast: true, Handle: e.subscribeToConfigurationUpdate})
	t.Register(wire.OpSubscribeToValidateConfigurationUpdates, op.Operation{Fast: true, Handle: e.subscribeTo(wire.EventValidateConfigurationUpdates)})
	t.Register(wire.OpSendConfigurationValidityReport, op.Operation{Fast: true, Handle: e.sendConfigurationValidityReport})
	t.Register(wire.OpSubscribeToComponentUpdates, op.Operation{Fast: true, Handle: e.subscribeTo(wire.EventComponentUpdates)})
	t.Register(wire.OpDeferComponentUpdate, op.Operation{Fast: true, Handle: e.deferComponentUpdate})
}

// subscribeToConfigurationUpdate answers SubscribeToConfigurationUpdate:
// events for the named component's configuration (the caller's own when no
// name is given) under keyPath. (aws.greengrass.ipc.config is not checked,
// as for GetConfiguration: any component's configuration may be read.)
func (e *Registry) subscribeToConfigurationUpdate(_ context.Context, c *op.Call) (any, error) {
	var req wire.SubscribeToConfigurationUpdateRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.ComponentName == "" {
		req.ComponentName = c.Caller
	}
	if len(req.KeyPath) > config.MaxDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has %d keys; configurations are at most %d deep", len(req.KeyPath), config.MaxDepth)
	}
	return struct{}{}, e.subscribeConfig(c.Caller, req.ComponentName, req.KeyPath)
}

// subscribeTo answers an operation that subscribes the caller to events of
// kind: SubscribeToValidateConfigurationUpdates (the caller is asked to
// validate its new configuration before a deployment changes it, Validate)
// and SubscribeToComponentUpdates (it hears of deployments before and after
// they change the device, Notify and Updated).
func (e *Registry) subscribeTo(kind string) func(context.Context, *op.Call) (any, error) {
	return func(_ context.Context, c *op.Call) (any, error) {
		if err := c.Decode(&struct{}{}); err != nil {
			return nil, err
		}
		e.subscribe(c.Caller, kind)
		return struct{}{}, nil
	}
}

// sendConfigurationValidityReport answers SendConfigurationValidityReport,
// the caller's answer to a validation event.
func (e *Registry) sendConfigurationValidityReport(_ context.Context, c *op.Call) (any, error) {
	var req wire.SendConfigurationValidityReportRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	return struct{}{}, e.report(c.Caller, req.ConfigurationValidityReport)
}

// deferComponentUpdate answers DeferComponentUpdate, the caller's answer
// to a pre-update event.
func (e *Registry) deferComponentUpdate(_ context.Context, c *op.Call) (any, error) {
	var req wire.DeferComponentUpdateRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	return struct{}{}, e.deferral(c.Caller, req)
}
