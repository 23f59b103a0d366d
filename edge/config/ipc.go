package config

import (
	"errors"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds the configuration operations to t
// (ipc_get_configuration.go, ipc_update_configuration.go). The handlers
// are thin: the store owns the cache, the timestamp rule and the merge;
// they decode, keep a component off its own accessControl, and turn the
// store's errors into IPC error codes.
func (s *Store) RegisterIPC(t *op.Table) {
	t.Register(wire.OpGetConfiguration, op.Operation{Fast: true, Handle: s.getConfiguration})
	t.Register(wire.OpUpdateConfiguration, op.Operation{Handle: s.updateConfiguration})
}

// ipcError maps the store's errors to IPC error codes; others pass
// through as service errors.
func ipcError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return wire.Errorf(wire.CodeResourceNotFound, "%v", err)
	case errors.Is(err, ErrStale):
		return wire.Errorf(wire.CodeFailedUpdateConditionCheck, "%v", err)
	case errors.Is(err, ErrInvalidValue), errors.Is(err, ErrBadPointer):
		return wire.Errorf(wire.CodeInvalidArguments, "%v", err)
	case errors.Is(err, ErrConflict):
		return wire.Errorf(wire.CodeService, "%v", err)
	}
	return err
}
