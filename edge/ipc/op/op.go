// Package op is the contract between the IPC front end (edge/ipc) and the
// services that own IPC operations: an Operation is a handler and whether
// it is fast, a Call is one request as the front end hands it over, and a
// Table maps operation names to operations.
//
// Each service registers its own operations, in files of its own package
// (edge/config/ipc_get_configuration.go, edge/shadow/ipc.go, …), with a
// RegisterIPC(t *op.Table) of its own; the nucleus builds one Table from
// its services and hands it to the front end. The package imports only
// shared/ and the standard library, so every service can import it.
package op

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// Operation is one IPC operation.
type Operation struct {
	// Fast operations are answered by the caller's lane worker, in order:
	// they touch only memory or one KV read, so a goroutine per request
	// would cost more than the work (GetConfiguration is the latency
	// figure of the IPC). The others get a goroutine of their own under
	// the front end's server-wide bound.
	Fast bool
	// Handle decodes the call's body, authorizes the caller and runs the
	// operation. Errors meant for the caller are *wire.Error; any other
	// error is logged by the front end and answered as a ServiceError.
	Handle func(ctx context.Context, c *Call) (any, error)
}

// Call is one operation call as the front end hands it to a handler: the
// caller (a deployed component, already identified), the operation name and
// the undecoded body.
type Call struct {
	Caller string
	Name   string
	Body   []byte
	// Authorize checks that the caller's accessControl has a policy of
	// service (an authz.Service… id) granting op on resource ("" for an
	// operation without one); it returns UnauthorizedError naming what to
	// add otherwise. The front end fills it.
	Authorize func(service, op, resource string) error
}

// Decode reads the body into v strictly: an unknown field or a wrong type
// is InvalidArgumentsError naming the field, and so is data after the JSON
// object. An empty body is an empty object.
func (c *Call) Decode(v any) error {
	body := c.Body
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return wire.Errorf(wire.CodeInvalidArguments, "field %q is %s; it must be %s", te.Field, te.Value, te.Type)
		case errors.As(err, &se):
			return wire.Errorf(wire.CodeInvalidArguments, "request is not valid JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return wire.Errorf(wire.CodeInvalidArguments, "request has %s; remove it", strings.TrimPrefix(err.Error(), "json: "))
		}
		return wire.Errorf(wire.CodeInvalidArguments, "request is not a JSON object of the operation's fields: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return wire.Errorf(wire.CodeInvalidArguments, "request has data after its JSON object; send one object")
	}
	return nil
}

// Table maps operation names to operations. Build it before the front end
// starts; it is read-only afterwards, so lookups need no lock.
type Table struct {
	ops map[string]Operation
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{ops: map[string]Operation{}} }

// Register adds o under name. A name registered twice is a programming
// error (two services claiming one operation), so it panics, as does an
// operation without a handler.
func (t *Table) Register(name string, o Operation) {
	if o.Handle == nil {
		panic("op: operation " + name + " registered without a handler")
	}
	if _, dup := t.ops[name]; dup {
		panic("op: operation " + name + " registered twice")
	}
	t.ops[name] = o
}

// Lookup returns the operation registered under name.
func (t *Table) Lookup(name string) (Operation, bool) {
	o, ok := t.ops[name]
	return o, ok
}

// Names returns the registered operation names, sorted.
func (t *Table) Names() []string { return slices.Sorted(maps.Keys(t.ops)) }
