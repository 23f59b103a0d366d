package ipc

import (
	"context"

	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// This file is a whole IPC operation, as the package of the service that
// owns it would hold it (edge/README.md, "Adding an IPC operation"): the
// request and response types, and a handler that decodes strictly, asks
// the caller's accessControl, and answers. Its one registration line is in
// testTable (table_test.go).

const (
	opEcho      = "Echo"
	serviceEcho = "sward.test.Echo"
)

type echoRequest struct {
	Message string `json:"message"`
}

type echoResponse struct {
	Message string `json:"message"`
	Caller  string `json:"caller"`
}

// echo answers Echo with the message and the caller's name, when a
// sward.test.Echo policy grants it on the message.
func echo(_ context.Context, c *op.Call) (any, error) {
	var req echoRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.Message == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "message is missing; send {\"message\": \"…\"}")
	}
	if err := c.Authorize(serviceEcho, c.Name, req.Message); err != nil {
		return nil, err
	}
	return echoResponse{Message: req.Message, Caller: c.Caller}, nil
}
