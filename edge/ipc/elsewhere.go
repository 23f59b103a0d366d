package ipc

import (
	"context"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterServedElsewhere adds the Greengrass operations this nucleus
// serves some other way to t: each answers where to go
// instead, rather than UnsupportedOperationError.
func RegisterServedElsewhere(t *op.Table) {
	pubsub := op.Operation{Handle: func(_ context.Context, c *op.Call) (any, error) {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "%s is a plain NATS publish or subscribe (MQTT topic a/b is subject a.b), under the component's pubsub permissions", c.Name)
	}}
	t.Register(wire.OpPublishToTopic, pubsub)
	t.Register(wire.OpSubscribeToTopic, pubsub)
}
