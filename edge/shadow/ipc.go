package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds the ShadowManager operations to t. All are slow: they
// read and write the KV bucket. Each needs an aws.greengrass.ShadowManager
// policy granting it on the shadow's topic prefix
// ($aws/things/<thing>/shadow[/name/<shadow>]).
func (s *Service) RegisterIPC(t *op.Table) {
	for _, name := range []string{wire.OpGetThingShadow, wire.OpUpdateThingShadow, wire.OpDeleteThingShadow} {
		t.Register(name, op.Operation{Handle: s.shadowOperation})
	}
	t.Register(wire.OpListNamedShadowsForThing, op.Operation{Handle: s.listNamedShadowsForThing})
}

// shadowOperation answers GetThingShadow, UpdateThingShadow and
// DeleteThingShadow.
func (s *Service) shadowOperation(ctx context.Context, c *op.Call) (any, error) {
	var req wire.UpdateThingShadowRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if c.Name != wire.OpUpdateThingShadow && req.Payload != nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "%s takes thingName and shadowName only; remove payload", c.Name)
	}
	if req.ThingName == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "thingName is missing")
	}
	res := "$aws/things/" + req.ThingName + "/shadow"
	if req.ShadowName != "" {
		res += "/name/" + req.ShadowName
	}
	if err := c.Authorize(authz.ServiceShadowManager, c.Name, res); err != nil {
		return nil, err
	}
	var doc []byte
	var err error
	switch c.Name {
	case wire.OpGetThingShadow:
		doc, err = s.Get(ctx, req.ThingName, req.ShadowName)
	case wire.OpDeleteThingShadow:
		doc, err = s.Delete(ctx, req.ThingName, req.ShadowName)
	default:
		if req.Payload == nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "payload is missing; send the shadow update document, e.g. {\"state\":{\"reported\":{...}}}")
		}
		doc, err = s.Update(ctx, req.ThingName, req.ShadowName, req.Payload)
	}
	if err != nil {
		return nil, ipcError(err)
	}
	return wire.ShadowResponse{Payload: json.RawMessage(doc)}, nil
}

// listNamedShadowsForThing answers ListNamedShadowsForThing.
func (s *Service) listNamedShadowsForThing(ctx context.Context, c *op.Call) (any, error) {
	var req wire.ListNamedShadowsForThingRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.ThingName == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "thingName is missing")
	}
	if err := c.Authorize(authz.ServiceShadowManager, c.Name, "$aws/things/"+req.ThingName); err != nil {
		return nil, err
	}
	names, next, err := s.ListNamed(ctx, req.ThingName, req.NextToken, req.PageSize)
	if err != nil {
		return nil, ipcError(err)
	}
	if names == nil {
		names = []string{}
	}
	return wire.ListNamedShadowsForThingResponse{Results: names, NextToken: next, Timestamp: time.Now().Unix()}, nil
}

// ipcError maps the service's AWS codes onto the IPC's, keeping the AWS
// message (it names what is wrong).
func ipcError(err error) error {
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	code := wire.CodeService
	switch e.Code {
	case 400, 413, 415:
		code = wire.CodeInvalidArguments
	case 404:
		code = wire.CodeResourceNotFound
	case 409:
		code = wire.CodeConflict
	case 429:
		code = wire.CodeThrottled
	}
	return &wire.Error{Code: code, Message: e.Message}
}
