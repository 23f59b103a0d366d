package stream

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/sward-iot/sward/shared/ipc"
)

// ComponentHandler serves the stream manager operations to components (the
// IPC front end): as Manager.Handle, except that the streams named in
// Options.Reserved, the nucleus's own, can be described and read but not
// created, updated, deleted or appended to, whatever a component's
// sward.StreamManager grant says (even "*"). The admin API and the Go
// methods are the nucleus's and are not restricted.
type ComponentHandler struct{ m *Manager }

// ForComponents returns the handler the IPC front end serves components
// with.
func (m *Manager) ForComponents() ComponentHandler { return ComponentHandler{m: m} }

// Handle is Manager.Handle with writes to reserved streams refused
// (UnauthorizedError naming the stream).
func (h ComponentHandler) Handle(ctx context.Context, op string, body []byte) ([]byte, error) {
	if name, ok := writtenStream(op, body); ok && slices.Contains(h.m.opts.Reserved, name) {
		return nil, ipc.Errorf(ipc.CodeUnauthorized,
			"%s on stream %q refused: the stream belongs to the nucleus; components may describe and read it only", op, name)
	}
	return h.m.Handle(ctx, op, body)
}

// writtenStream returns the stream a writing operation targets; ok is
// false for reads and for bodies Handle refuses anyway.
func writtenStream(op string, body []byte) (name string, ok bool) {
	var req struct {
		StreamName string `json:"streamName"`
		Definition struct {
			Name string `json:"name"`
		} `json:"definition"`
	}
	switch op {
	case ipc.OpCreateMessageStream, ipc.OpUpdateMessageStream:
		if json.Unmarshal(body, &req) != nil {
			return "", false
		}
		return req.Definition.Name, true
	case ipc.OpDeleteMessageStream, ipc.OpAppendMessage:
		if json.Unmarshal(body, &req) != nil {
			return "", false
		}
		return req.StreamName, true
	}
	return "", false
}
