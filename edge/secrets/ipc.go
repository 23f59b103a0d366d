package secrets

import (
	"time"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds GetSecretValue to t. s may be nil, a nucleus that
// fetches no secrets: the operation then answers ResourceNotFoundError
// naming the configuration that adds them. It is not fast: a secret not
// yet stored when the nucleus has just started waits for the fetch at
// start (at most answerWithin).
func (s *Service) RegisterIPC(t *op.Table) {
	t.Register(wire.OpGetSecretValue, op.Operation{Handle: s.getSecretValue})
}

// answerWithin bounds the wait for the fetch at start, below the Go
// client's default 5 s timeout.
var answerWithin = 4 * time.Second
