// Package optest runs one IPC operation of a service in a test, the way
// the front end would: the request encoded, the caller's accessControl
// (one policy of one service) deciding Authorize. Only _test files import
// it.
package optest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// Registrar is a service that registers its IPC operations.
type Registrar interface{ RegisterIPC(t *op.Table) }

// Call runs operation name of s for caller, whose accessControl has one
// policy of service granting operations on resources. A string req is
// sent as it is (for malformed bodies); anything else is JSON-encoded.
func Call(s Registrar, caller, service, name string, req any, operations, resources []string) (any, error) {
	body, _ := json.Marshal(req)
	if raw, ok := req.(string); ok {
		body = []byte(raw)
	}
	var ops, res []any
	for _, o := range operations {
		ops = append(ops, o)
	}
	for _, r := range resources {
		res = append(res, r)
	}
	acl, errs := authz.ParseACL(caller, map[string]any{"accessControl": map[string]any{
		service: map[string]any{"policy": map[string]any{"operations": ops, "resources": res}}}})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &op.Call{Caller: caller, Name: name, Body: body, Authorize: func(svc, opName, resource string) error {
		if acl.Allows(svc, opName, resource) {
			return nil
		}
		return wire.Errorf(wire.CodeUnauthorized, "%s may not %s on %q", caller, opName, resource)
	}}
	t := op.NewTable()
	s.RegisterIPC(t)
	o, ok := t.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("the service registers no operation %s", name)
	}
	return o.Handle(context.Background(), c)
}
