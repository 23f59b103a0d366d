package export

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// state is an export's progress, one key per export in StateBucket. It,
// not the consumer's ack floor, decides what has been exported: the server
// writes consumer state lazily, so after kill -9 the ack floor can lag, and
// deliveries to a dead process wait AckWait before redelivery.
type state struct {
	// StreamCreated is the JetStream stream's creation time. A stream
	// deleted and created again under the same name restarts its sequence
	// numbers, so a different time discards the state.
	StreamCreated time.Time `json:"streamCreated"`
	// Committed is the last sequence number known to be at the destination.
	Committed uint64 `json:"committed"`
	// InFlight, when set, is the batch being sent: its range is fixed, so a
	// restart resends the same batch, never a differently cut one.
	InFlight *inFlight `json:"inFlight,omitempty"`
	// Instance is random, made once per export. The Kinesis exporter puts
	// it in every partition key so that it recognizes its own records.
	Instance string `json:"instance"`
}

type inFlight struct {
	First   uint64    `json:"first"`
	Last    uint64    `json:"last"`
	Started time.Time `json:"started"`
}

// tokenPrefixLen keeps consumer names and keys short and readable: the
// sha256 suffix, not the prefix, makes them unique.
const tokenPrefixLen = 64

// token turns an export identifier into a consumer name and KV key token:
// up to 64 characters of the identifier (anything but letters, digits, '-'
// and '_' as '-'), '_' and 16 hex digits of its SHA-256, so identifiers
// that differ only in punctuation still get distinct names.
func token(identifier string) string {
	var b strings.Builder
	for i := 0; i < len(identifier) && i < tokenPrefixLen; i++ {
		c := identifier[i]
		if isAlnum(c) || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	sum := sha256.Sum256([]byte(identifier))
	return b.String() + "_" + hex.EncodeToString(sum[:8])
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ConsumerName is the durable consumer of an export on its stream.
func ConsumerName(identifier string) string { return "export_" + token(identifier) }

// StateKey is an export's key in StateBucket.
func StateKey(jetStreamStream, identifier string) string {
	return jetStreamStream + "." + token(identifier)
}

func (e *exporter) key() string { return StateKey(e.opts.Stream, e.common.Identifier) }

// load reads the export's state, starting afresh when there is none or
// it belongs to an earlier stream of the same name.
func (e *exporter) load(ctx context.Context) error {
	info, err := e.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", e.opts.Stream, err)
	}
	created := info.Created
	entry, err := e.kv.Get(ctx, e.key())
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("read export state %s/%s: %w", StateBucket, e.key(), err)
	default:
		var st state
		if err := json.Unmarshal(entry.Value(), &st); err != nil {
			e.log.Error("export state is not valid JSON; starting the export over", "key", e.key(), "err", err)
		} else if !st.StreamCreated.Equal(created) {
			e.log.Info("the stream was created again since the last export; starting over", "committed", st.Committed)
		} else {
			e.st = st
			e.mu.Lock()
			e.status.LastExportedSequenceNumber = int64(st.Committed)
			e.mu.Unlock()
			return nil
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	e.st = state{StreamCreated: created, Instance: hex.EncodeToString(id[:])}
	return e.save(ctx)
}

// peek reports a disabled export's progress in its status without
// touching the state.
func (e *exporter) peek(ctx context.Context) {
	entry, err := e.kv.Get(ctx, e.key())
	if err != nil {
		return
	}
	var st state
	if json.Unmarshal(entry.Value(), &st) == nil {
		e.status.LastExportedSequenceNumber = int64(st.Committed)
	}
}

// save stores the state. A KV put is a JetStream publish acknowledged once
// stored, so it survives kill -9 of the nucleus.
func (e *exporter) save(ctx context.Context) error {
	data, err := json.Marshal(e.st)
	if err != nil {
		return err
	}
	if _, err := e.kv.Put(ctx, e.key(), data); err != nil {
		return fmt.Errorf("store export state %s/%s: %w", StateBucket, e.key(), err)
	}
	return nil
}

// ensureConsumer makes the durable consumer deliver from the message after
// the last committed one. An existing consumer is kept when it is exactly
// there with nothing outstanding (a clean stop); otherwise it is replaced,
// since deliveries to a dead process would otherwise wait AckWait.
func (e *exporter) ensureConsumer(ctx context.Context) error {
	name := ConsumerName(e.common.Identifier)
	// Twice the batch: the next batch can be fetched while the server is
	// still counting the previous batch's acks.
	maxAckPending := 2 * int(e.common.BatchSize)
	if c, err := e.stream.Consumer(ctx, name); err == nil {
		ci := c.CachedInfo()
		if ci.NumAckPending == 0 && ci.Delivered.Stream == e.st.Committed &&
			ci.Config.MaxAckPending == maxAckPending && (e.st.Committed > 0 || ci.Delivered.Stream == 0) {
			e.cons = c
			return nil
		}
		if err := e.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("replace consumer %s on %s: %w", name, e.opts.Stream, err)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer %s on %s: %w", name, e.opts.Stream, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "export " + e.common.Identifier + " of stream " + e.opts.StreamName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	switch {
	case e.st.Committed > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, e.st.Committed+1
	case e.common.StartSequenceNumber > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, uint64(e.common.StartSequenceNumber)
	}
	c, err := e.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", name, e.opts.Stream, err)
	}
	e.cons = c
	return nil
}

// nextBatch collects the next batch: up to batchSize messages, sent once
// full or once its first message is batchIntervalMillis old. It returns
// nil when nothing arrived within idleWait.
func (e *exporter) nextBatch(ctx context.Context) (*batch, error) {
	size := int(e.common.BatchSize)
	var msgs []message
	n, err := e.fetch(ctx, 1, idleWait, &msgs)
	if err != nil || n == 0 || len(msgs) == 0 {
		return nil, err
	}
	deadline := msgs[0].time.Add(time.Duration(e.common.BatchIntervalMillis) * time.Millisecond)
	for len(msgs) < size {
		want := size - len(msgs)
		wait := time.Until(deadline)
		_, err := e.fetch(ctx, want, wait, &msgs)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			e.log.Debug("fetch", "err", err) // send what we have
			break
		}
		// The server ends a pull a little before the client's deadline, so
		// a short pull is not proof that the interval ran out: look again.
		if wait < time.Millisecond || !time.Now().Before(deadline) {
			break
		}
	}
	return &batch{first: msgs[0].seq, last: msgs[len(msgs)-1].seq, msgs: msgs}, nil
}

// fetch asks for up to n messages, waiting at most wait (below a
// millisecond: only those available now), appends the ones not yet
// committed to msgs and returns how many were delivered.
func (e *exporter) fetch(ctx context.Context, n int, wait time.Duration, msgs *[]message) (int, error) {
	var (
		mb  jetstream.MessageBatch
		err error
	)
	if wait < time.Millisecond {
		mb, err = e.cons.FetchNoWait(n)
	} else {
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		mb, err = e.cons.Fetch(n, jetstream.FetchContext(fctx))
	}
	if err != nil {
		return 0, err
	}
	delivered := 0
	for m := range mb.Messages() {
		delivered++
		md, err := m.Metadata()
		if err != nil {
			return delivered, err
		}
		if md.Sequence.Stream <= e.st.Committed {
			_ = m.Ack() // already exported: a redelivery after lost acks
			continue
		}
		*msgs = append(*msgs, message{seq: md.Sequence.Stream, time: md.Timestamp, data: m.Data(), msg: m})
	}
	if err := mb.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
		return delivered, err
	}
	return delivered, ctx.Err()
}

// Forget deletes the export state of every export of a JetStream stream:
// call it when the stream is deleted. (A stream created again under the
// same name would not reuse the state anyway: its creation time differs.)
func Forget(ctx context.Context, js jetstream.JetStream, jetStreamStream string) error {
	kv, err := js.KeyValue(ctx, StateBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: open %s: %w", StateBucket, err)
	}
	keys, err := kv.ListKeysFiltered(ctx, jetStreamStream+".*")
	if err != nil {
		return fmt.Errorf("export: list %s: %w", StateBucket, err)
	}
	for k := range keys.Keys() {
		if err := kv.Purge(ctx, k); err != nil {
			return fmt.Errorf("export: delete %s/%s: %w", StateBucket, k, err)
		}
	}
	return nil
}
