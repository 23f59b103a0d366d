package stream

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/shared/ipc"
)

// MaxPayload returns the largest payload Append accepts: the broker's max
// payload (1 MiB by default), as the message is stored with no headers.
// Through NATS (IPC or the admin API) the request carries the payload in
// base64, so the practical limit there is about three quarters of it.
func (m *Manager) MaxPayload() int { return int(m.nc.MaxPayload()) }

// Append appends payload to a stream and returns its sequence number.
//
// Guarantees when it returns without error: the message is readable and
// survives a kill -9 of the nucleus (JetStream wrote it to its block file);
// on a flushOnWrite stream it is also fsync'd, so it survives a power loss.
// A Memory stream keeps it until the nucleus stops. On RejectNewData a full
// stream refuses it with StreamFullError; on OverwriteOldestData the oldest
// messages make room.
func (m *Manager) Append(ctx context.Context, streamName string, payload []byte) (int64, error) {
	seq, e := m.append(ctx, streamName, payload)
	if e != nil {
		return 0, e
	}
	return seq, nil
}

func (m *Manager) append(ctx context.Context, name string, payload []byte) (int64, *ipc.Error) {
	st, e := m.lookup(name)
	if e != nil {
		return 0, e
	}
	if limit := m.MaxPayload(); len(payload) > limit {
		return 0, ipc.Errorf(ipc.CodeRequestPayloadTooLarge, "payload of %d bytes is over the limit of %d bytes for stream %q: split the message", len(payload), limit, name)
	}
	fut, err := m.js.PublishMsgAsync(&nats.Msg{Subject: st.subject, Data: payload})
	if err != nil {
		return 0, m.internal("append", name, err)
	}
	var ack *jetstream.PubAck
	select {
	case ack = <-fut.Ok():
	case err := <-fut.Err():
		return 0, m.appendError(st, err)
	case <-ctx.Done():
		return 0, ipc.Errorf(ipc.CodeService, "append to stream %q: %v before JetStream acknowledged it (the message may still be stored)", name, ctx.Err())
	}
	st.notify.wake()
	if st.sync != nil {
		g := st.sync.join()
		select {
		case <-g.done:
		case <-ctx.Done():
			return 0, ipc.Errorf(ipc.CodeService, "append to stream %q: %v before the message was fsync'd (it is stored as sequence %d, maybe not on disk)", name, ctx.Err(), ack.Sequence)
		}
		if g.err != nil {
			return 0, m.internal("append (fsync)", name, g.err)
		}
	}
	return int64(ack.Sequence), nil
}

// appendError maps a JetStream refusal onto a caller error.
func (m *Manager) appendError(st *managed, err error) *ipc.Error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (strings.Contains(apiErr.Description, "maximum bytes exceeded") ||
		strings.Contains(apiErr.Description, "maximum messages exceeded")) {
		return ipc.Errorf(ipc.CodeStreamFull,
			"stream %q is full (maxSize %d bytes, strategyOnFull RejectNewData): read and let messages expire (timeToLiveMillis), raise maxSize, or use OverwriteOldestData",
			st.def.Name, st.def.MaxSize)
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		return ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist (deleted meanwhile)", st.def.Name)
	}
	return m.internal("append", st.def.Name, err)
}

// notifier wakes ReadMessages calls waiting for new messages. wait returns
// a channel closed by the next wake; only waiters pay for a channel.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) wake() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
