package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/shared/ipc"
)

const (
	// MaxMessageCount is the largest minMessageCount and maxMessageCount,
	// Greengrass's limit (2^31 - 1).
	MaxMessageCount = 1<<31 - 1

	// messageOverhead is the JSON around one message in a ReadMessages
	// response besides its payload and stream name:
	// {"streamName":"","sequenceNumber":<20 digits>,"ingestTime":<13 digits>,"payload":""},
	// rounded up.
	messageOverhead = 96
)

// Read returns messages of a stream from opts.DesiredStartSequenceNumber
// on (or from the oldest, if that one is gone): at least MinMessageCount,
// at most MaxMessageCount. With fewer available it waits up to
// ReadTimeoutMillis for appends, then fails with NotEnoughMessagesError.
// One response holds at most about the broker's max payload of JSON; when
// MinMessageCount messages do not fit, it fails with
// ResponsePayloadTooLargeError.
func (m *Manager) Read(ctx context.Context, streamName string, opts ipc.ReadMessagesOptions) ([]ipc.Message, error) {
	msgs, e := m.read(ctx, streamName, opts)
	if e != nil {
		return nil, e
	}
	return msgs, nil
}

func checkReadOptions(o ipc.ReadMessagesOptions) (ipc.ReadMessagesOptions, *ipc.Error) {
	if o.DesiredStartSequenceNumber < 0 {
		return o, ipc.Errorf(ipc.CodeInvalidArguments, "readMessagesOptions.desiredStartSequenceNumber %d is negative: use 0 (from the oldest) or a sequence number", o.DesiredStartSequenceNumber)
	}
	if o.MinMessageCount == 0 {
		o.MinMessageCount = 1
	}
	if o.MinMessageCount < 1 || o.MinMessageCount > MaxMessageCount {
		return o, ipc.Errorf(ipc.CodeInvalidArguments, "readMessagesOptions.minMessageCount %d is out of range: use 1 to %d", o.MinMessageCount, MaxMessageCount)
	}
	if o.MaxMessageCount == 0 {
		o.MaxMessageCount = o.MinMessageCount
	}
	if o.MaxMessageCount < o.MinMessageCount || o.MaxMessageCount > MaxMessageCount {
		return o, ipc.Errorf(ipc.CodeInvalidArguments, "readMessagesOptions.maxMessageCount %d is out of range: use minMessageCount (%d) to %d", o.MaxMessageCount, o.MinMessageCount, MaxMessageCount)
	}
	if o.ReadTimeoutMillis < 0 || o.ReadTimeoutMillis > MaxTimeToLiveMillis {
		return o, ipc.Errorf(ipc.CodeInvalidArguments, "readMessagesOptions.readTimeoutMillis %d is out of range: use 0 (do not wait) to %d", o.ReadTimeoutMillis, int64(MaxTimeToLiveMillis))
	}
	return o, nil
}

func (m *Manager) read(ctx context.Context, name string, opts ipc.ReadMessagesOptions) ([]ipc.Message, *ipc.Error) {
	opts, e := checkReadOptions(opts)
	if e != nil {
		return nil, e
	}
	st, e := m.lookup(name)
	if e != nil {
		return nil, e
	}
	budget := int(m.nc.MaxPayload()) - responseSlack
	nameCost := len(mustJSON(name))
	var (
		out   []ipc.Message
		next  = uint64(max(opts.DesiredStartSequenceNumber, 1))
		want  = int(min(opts.MaxMessageCount, MaxMessageCount))
		timer *time.Timer
	)
	if opts.ReadTimeoutMillis > 0 {
		timer = time.NewTimer(time.Duration(opts.ReadTimeoutMillis) * time.Millisecond)
		defer timer.Stop()
	}
	for {
		// Take the wake-up channel before looking, so an append between the
		// look and the wait is not missed.
		woken := st.notify.wait()
		got, full, e := m.fetch(ctx, st, next, want-len(out), budget, nameCost)
		if e != nil {
			return nil, e
		}
		for _, g := range got {
			budget -= messageCost(len(g.Payload), nameCost)
		}
		out = append(out, got...)
		if len(got) > 0 {
			next = uint64(got[len(got)-1].SequenceNumber) + 1
		}
		if int64(len(out)) >= opts.MinMessageCount {
			return out, nil
		}
		if full {
			return nil, ipc.Errorf(ipc.CodeResponsePayloadTooLarge, "stream %q: %d messages from sequence %d do not fit in one response (%d bytes of JSON): lower minMessageCount", name, opts.MinMessageCount, max(opts.DesiredStartSequenceNumber, 1), int(m.nc.MaxPayload())-responseSlack)
		}
		if timer == nil {
			return nil, notEnough(name, opts, len(out))
		}
		select {
		case <-woken:
			if _, e := m.lookup(name); e != nil {
				return nil, e // deleted while waiting
			}
		case <-timer.C:
			// One last look: messages appended just before the deadline count.
			timer = nil
		case <-ctx.Done():
			return nil, ipc.Errorf(ipc.CodeService, "read of stream %q stopped: %v", name, ctx.Err())
		case <-m.ctx.Done():
			return nil, ipc.Errorf(ipc.CodeService, "read of stream %q stopped: the stream manager is shutting down", name)
		}
	}
}

func notEnough(name string, o ipc.ReadMessagesOptions, got int) *ipc.Error {
	return ipc.Errorf(ipc.CodeNotEnoughMessages, "stream %q has %d of the %d messages asked for from sequence %d within %d ms: wait longer (readTimeoutMillis) or ask for fewer (minMessageCount)",
		name, got, o.MinMessageCount, max(o.DesiredStartSequenceNumber, 1), o.ReadTimeoutMillis)
}

// messageCost is the JSON size of one message in a response.
func messageCost(payloadLen, nameCost int) int {
	return (payloadLen+2)/3*4 + nameCost + messageOverhead
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// directGetRequest is JetStream's batched direct get ($JS.API.DIRECT.GET):
// up to Batch messages from Seq on, in one request, without a consumer.
type directGetRequest struct {
	Seq      uint64 `json:"seq"`
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// Headers nats.go fills from a status reply ("NATS/1.0 404 ...").
const (
	statusHeader      = "Status"
	descriptionHeader = "Description"
)

// maxBatch caps one direct get: a response never holds more than about
// 1 MiB anyway, and JetStream counts pending messages per batch.
const maxBatch = 10_000

// fetch reads up to n messages from seq on that fit in budget bytes of
// response JSON. full reports that the budget, not the stream's end,
// stopped it.
func (m *Manager) fetch(ctx context.Context, st *managed, seq uint64, n, budget, nameCost int) (msgs []ipc.Message, full bool, e *ipc.Error) {
	if n <= 0 {
		return nil, false, nil
	}
	n = min(n, maxBatch)
	inbox := nats.NewInbox()
	sub, err := m.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false, m.internal("read", st.def.Name, err)
	}
	defer sub.Unsubscribe()
	// Payload bytes JetStream may send: the budget less the JSON overhead,
	// as raw bytes (base64 grows them by a third).
	req, _ := json.Marshal(directGetRequest{Seq: seq, Batch: n, MaxBytes: max(budget*3/4, 1)})
	if err := m.nc.PublishRequest("$JS.API.DIRECT.GET."+st.jsName, inbox, req); err != nil {
		return nil, false, m.internal("read", st.def.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			// A stream being deleted stops answering direct gets before
			// (503) or after (no responders) Delete has taken it out.
			if _, gone := m.lookup(st.def.Name); gone != nil && errors.Is(err, nats.ErrNoResponders) {
				return nil, false, ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist (deleted meanwhile)", st.def.Name)
			}
			return nil, false, m.internal("read", st.def.Name, fmt.Errorf("direct get from %d: %w", seq, err))
		}
		if status := msg.Header.Get(statusHeader); status != "" {
			switch status {
			case "204": // end of batch
				return msgs, full, nil
			case "404": // nothing at or after seq
				return msgs, false, nil
			case "503":
				return nil, false, ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist (deleted meanwhile)", st.def.Name)
			default:
				return nil, false, m.internal("read", st.def.Name, fmt.Errorf("direct get from %d: status %s %s", seq, status, msg.Header.Get(descriptionHeader)))
			}
		}
		if full {
			continue // past the budget: drain to the end of batch
		}
		cost := messageCost(len(msg.Data), nameCost)
		if cost > budget {
			full = true
			continue
		}
		sseq, err := strconv.ParseUint(msg.Header.Get(nats.JSSequence), 10, 64)
		if err != nil {
			return nil, false, m.internal("read", st.def.Name, fmt.Errorf("direct get: bad %s header %q", nats.JSSequence, msg.Header.Get(nats.JSSequence)))
		}
		ts, err := time.Parse(time.RFC3339Nano, msg.Header.Get(nats.JSTimeStamp))
		if err != nil {
			return nil, false, m.internal("read", st.def.Name, fmt.Errorf("direct get: bad %s header: %w", nats.JSTimeStamp, err))
		}
		budget -= cost
		msgs = append(msgs, ipc.Message{
			StreamName:     st.def.Name,
			SequenceNumber: int64(sseq),
			IngestTime:     ts.UnixMilli(),
			Payload:        msg.Data,
		})
	}
}
