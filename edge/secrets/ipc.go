package secrets

import (
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds GetSecretValue to t. s may be nil, a nucleus that
// fetches no secrets: the operation then answers ResourceNotFoundError
// naming the configuration that adds them. It is fast: it reads memory.
func (s *Service) RegisterIPC(t *op.Table) {
	t.Register(wire.OpGetSecretValue, op.Operation{Fast: true, Handle: s.getSecretValue})
}
