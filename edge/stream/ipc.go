package stream

import (
	"context"
	"encoding/json"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	"github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds the stream manager operations (ipc.StreamOperations) to
// t, served as ForComponents serves them. All are slow: they may wait on
// disk or, ReadMessages, for messages.
func (m *Manager) RegisterIPC(t *op.Table) {
	h := m.ForComponents()
	for _, name := range ipc.StreamOperations {
		t.Register(name, op.Operation{Handle: h.ipcOperation})
	}
}

// ipcOperation checks the caller's sward.StreamManager policies on the
// stream the request names, then runs it.
func (h ComponentHandler) ipcOperation(ctx context.Context, c *op.Call) (any, error) {
	var probe struct {
		StreamName string `json:"streamName"`
		Definition *struct {
			Name string `json:"name"`
		} `json:"definition"`
	}
	if len(c.Body) > 0 {
		if err := json.Unmarshal(c.Body, &probe); err != nil {
			return nil, ipc.Errorf(ipc.CodeInvalidArguments, "request is not a JSON object: %v", err)
		}
	}
	res := probe.StreamName
	if probe.Definition != nil {
		res = probe.Definition.Name
	}
	if err := c.Authorize(authz.ServiceStreamManager, c.Name, res); err != nil {
		return nil, err
	}
	out, err := h.Handle(ctx, c.Name, c.Body)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}
