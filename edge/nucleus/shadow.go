package nucleus

import (
	"context"
	"errors"

	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/shadow"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// shadows serves the IPC's ShadowManager operations from the shadow
// service, with the AWS error codes turned into IPC ones.
type shadows struct{ s *shadow.Service }

func (a shadows) Get(ctx context.Context, thing, name string) ([]byte, error) {
	b, err := a.s.Get(ctx, thing, name)
	return b, shadowError(err)
}

func (a shadows) Update(ctx context.Context, thing, name string, doc []byte) ([]byte, error) {
	b, err := a.s.Update(ctx, thing, name, doc)
	return b, shadowError(err)
}

func (a shadows) Delete(ctx context.Context, thing, name string) ([]byte, error) {
	b, err := a.s.Delete(ctx, thing, name)
	return b, shadowError(err)
}

func (a shadows) ListNamed(ctx context.Context, thing, next string, size int) ([]string, string, error) {
	names, tok, err := a.s.ListNamed(ctx, thing, next, size)
	return names, tok, shadowError(err)
}

var _ ipc.Shadows = shadows{}

// shadowError maps the shadow service's AWS codes onto the IPC's, keeping
// the AWS message (it names what is wrong).
func shadowError(err error) error {
	var e *shadow.Error
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
