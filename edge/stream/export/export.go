package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/internal/kvbound"
	"github.com/sward-iot/sward/shared/ipc"
)

const (
	// stateMaxBytes bounds the export progress bucket (reserved in the
	// store at creation): one small record per export.
	stateMaxBytes = 1 << 20

	// StateBucket is the JetStream KV bucket holding every export's progress
	// (see state.go). File storage: progress must outlive the process.
	StateBucket = "sward_stream_exports"

	// ackWait is the consumer's AckWait. The exporter never fetches while a
	// batch is out, and a restart re-positions the consumer (see
	// ensureConsumer), so redelivery never drives correctness; AckWait only
	// has to exceed the slowest batch so the server does not queue needless
	// redeliveries: a 10000-message S3 object on a slow uplink, with
	// retries, stays under 10 minutes.
	ackWait = 10 * time.Minute

	// idleWait bounds one wait for the first message of a batch. Short
	// enough that a broken consumer (deleted behind our back) is noticed
	// within seconds; long enough that an idle export costs one request
	// every few seconds.
	idleWait = 5 * time.Second

	// minBackoff and maxBackoff bound the wait between failed attempts of a
	// batch. Greengrass retries "at intervals of up to five minutes" without
	// a limit on attempts; so does Sward. The first retry comes quickly
	// because most failures (a dropped connection) are transient.
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Minute

	// DefaultConcurrentUploads is the number of batches a Runner sends at
	// once when Options.Slots is nil: two keep an edge uplink busy while a
	// response is awaited without letting low-priority exports crowd out
	// urgent ones.
	DefaultConcurrentUploads = 2
)

// Options configures a Runner: the exports of one stream.
type Options struct {
	// JetStream is a handle on the nucleus's broker. Required.
	JetStream jetstream.JetStream
	// Stream is the JetStream stream holding the messages (edge/stream's
	// JetStreamName). Required.
	Stream string
	// StreamName is the stream manager name of the stream, used in S3 keys,
	// status records and logs. Required.
	StreamName string
	// Definition lists the exports. It is validated by Start.
	Definition ipc.ExportDefinition
	// StatusPublish receives one JSON ipc.ExportAttempt per export attempt
	// (the status stream). Nil drops them (they are still logged).
	StatusPublish func(ctx context.Context, record []byte) error
	// AWS is the AWS configuration for the S3 and Kinesis exports. Nil
	// loads the SDK's default chain (environment, shared files, IMDS),
	// including AWS_ENDPOINT_URL.
	AWS *aws.Config
	// EndpointURL, when set, overrides the S3 and Kinesis endpoint (a local
	// S3-compatible store, a VPC endpoint).
	EndpointURL string
	// S3PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key, as most S3-compatible stores need.
	S3PathStyle bool
	// HTTPClient sends the HTTP exports. Nil uses a client with
	// httpTimeout.
	HTTPClient *http.Client
	// Slots limits concurrent uploads by priority. Share one between
	// Runners so priorities apply across streams; nil gives this Runner
	// its own with DefaultConcurrentUploads.
	Slots *Slots
	// Logger gets the logs, with service=stream.export. Default
	// slog.Default().
	Logger *slog.Logger
}

// Errors of Start.
var (
	// ErrNoJetStream: Options.JetStream is nil.
	ErrNoJetStream = errors.New("export: Options.JetStream is nil: pass jetstream.New(conn) of a broker connection")
	// ErrNoStream: Options.Stream or Options.StreamName is empty.
	ErrNoStream = errors.New("export: Options.Stream and Options.StreamName are required: pass the JetStream stream and the stream manager name")
)

// Runner runs the exports of one stream until Stop.
type Runner struct {
	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	exports []*exporter
}

// Start validates opts, opens the state bucket and starts one goroutine per
// enabled export; it does not wait for any export. Each goroutine first
// finishes the batch a crash interrupted, then exports new messages.
func Start(ctx context.Context, opts Options) (*Runner, error) {
	if opts.JetStream == nil {
		return nil, ErrNoJetStream
	}
	if opts.Stream == "" || opts.StreamName == "" {
		return nil, ErrNoStream
	}
	if err := opts.Definition.Validate(); err != nil {
		return nil, fmt.Errorf("export definition of stream %q: %w", opts.StreamName, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("service", "stream.export", "stream", opts.StreamName)
	if opts.Slots == nil {
		opts.Slots = NewSlots(DefaultConcurrentUploads)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: httpTimeout}
	}

	kv, err := kvbound.Open(ctx, opts.JetStream, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "Sward stream export progress (edge/stream/export)",
		History:     1,
		MaxBytes:    stateMaxBytes,
		Storage:     jetstream.FileStorage,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("export: open state bucket %s: %w", StateBucket, err)
	}
	stream, err := opts.JetStream.Stream(ctx, opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("export: JetStream stream %s of %q: %w", opts.Stream, opts.StreamName, err)
	}

	dests, err := destinations(ctx, opts)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Runner{log: log, cancel: cancel}
	for _, d := range dests {
		e := &exporter{
			opts:   opts,
			common: d.common,
			dest:   d.dest,
			kind:   d.kind,
			kv:     kv,
			stream: stream,
			log:    log.With("export", d.common.Identifier, "type", d.kind),
		}
		e.status.ExportConfigIdentifier = d.common.Identifier
		r.exports = append(r.exports, e)
		if d.common.Disabled {
			e.peek(ctx)
			e.log.Info("export disabled", "committed", e.status.LastExportedSequenceNumber)
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			e.run(runCtx)
		}()
	}
	return r, nil
}

// Stop stops every export and waits for them. A batch being sent is
// abandoned, not committed: the next Start finishes it exactly as after a
// crash.
func (r *Runner) Stop() {
	r.cancel()
	r.wg.Wait()
}

// Status reports each export's progress, in definition order (kinesis,
// http, s3).
func (r *Runner) Status() []ipc.ExportStatus {
	out := make([]ipc.ExportStatus, 0, len(r.exports))
	for _, e := range r.exports {
		e.mu.Lock()
		out = append(out, e.status)
		e.mu.Unlock()
	}
	return out
}

// destSpec is one configured export before it runs.
type destSpec struct {
	common ipc.ExportCommon
	kind   string
	dest   destination
}

// destinations builds the destination of every export, loading the AWS
// configuration once if any export needs it.
func destinations(ctx context.Context, opts Options) ([]destSpec, error) {
	def := opts.Definition
	var cfg aws.Config
	if len(def.Kinesis)+len(def.S3) > 0 {
		if opts.AWS != nil {
			cfg = opts.AWS.Copy()
		} else {
			c, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return nil, fmt.Errorf("export: load the AWS configuration (environment, ~/.aws, instance metadata): %w", err)
			}
			cfg = c
		}
		if opts.EndpointURL != "" {
			cfg.BaseEndpoint = aws.String(opts.EndpointURL)
		}
	}
	var out []destSpec
	for _, c := range def.Kinesis {
		c.ExportCommon = withDefaults(c.ExportCommon, ipc.DefaultKinesisBatchSize)
		out = append(out, destSpec{c.ExportCommon, "kinesis", newKinesis(cfg, c)})
	}
	for _, c := range def.HTTP {
		c.ExportCommon = withDefaults(c.ExportCommon, ipc.DefaultHTTPBatchSize)
		out = append(out, destSpec{c.ExportCommon, "http", newHTTP(opts, c)})
	}
	for _, c := range def.S3 {
		c.ExportCommon = withDefaults(c.ExportCommon, ipc.DefaultS3BatchSize)
		out = append(out, destSpec{c.ExportCommon, "s3", newS3(cfg, opts, c)})
	}
	return out, nil
}

func withDefaults(c ipc.ExportCommon, batch int64) ipc.ExportCommon {
	if c.BatchSize == 0 {
		c.BatchSize = batch
	}
	return c
}

// message is one stream message in a batch.
type message struct {
	seq  uint64
	time time.Time
	data []byte
	msg  jetstream.Msg // nil when read by GetMsg during recovery
}

// batch is a contiguous range of sequence numbers being exported. Messages
// the stream dropped (retention) leave gaps; first and last still bound it.
type batch struct {
	first, last uint64
	msgs        []message
	// started is when the in-flight marker was written: nothing of this
	// batch reached the destination before it.
	started time.Time
	// sent counts the leading messages a destination that sends one
	// message per request has delivered in this process (RAW_NOT_BATCHED).
	sent int
}

func (b *batch) bytes() int64 {
	var n int64
	for _, m := range b.msgs {
		n += int64(len(m.data))
	}
	return n
}

// destination sends batches to one place.
type destination interface {
	// send delivers a batch of which nothing has reached the destination
	// yet.
	send(ctx context.Context, b *batch, st *state) error
	// resume delivers a batch of which some part may already be at the
	// destination: after a crash, a Stop or a failed attempt. It must
	// never deliver a message twice where the destination allows
	// telling (see each destination's file).
	resume(ctx context.Context, b *batch, st *state) error
	// where describes the destination of a batch for the status record.
	where(b *batch) string
}

// testHook, when set (tests only), is called at the crash points of a
// batch: "marked" (in-flight marker stored), "sent" (destination has the
// batch, not yet committed), "committed" (progress stored, messages not
// acknowledged) and by the Kinesis exporter "partial" (some records
// accepted, the failed ones not yet resent).
var testHook func(point string, b *batch)

func hook(point string, b *batch) {
	if testHook != nil {
		testHook(point, b)
	}
}

// exporter runs one export.
type exporter struct {
	opts   Options
	common ipc.ExportCommon
	kind   string
	dest   destination
	kv     jetstream.KeyValue
	stream jetstream.Stream
	log    *slog.Logger

	st   state
	rev  uint64
	cons jetstream.Consumer

	mu     sync.Mutex
	status ipc.ExportStatus
}

// run is the export's goroutine: set up (finishing an interrupted batch),
// then export batch after batch until ctx ends.
func (e *exporter) run(ctx context.Context) {
	bo := newBackoff()
	for {
		err := e.setup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("export cannot start; retrying", "err", err, "retryIn", bo.peek())
		if !bo.wait(ctx) {
			return
		}
	}
	bo.reset()
	e.log.Info("export running", "committed", e.st.Committed)
	for ctx.Err() == nil {
		b, err := e.nextBatch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("reading the stream failed; retrying", "err", err, "retryIn", bo.peek())
			if !bo.wait(ctx) {
				return
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				if err := e.ensureConsumer(ctx); err != nil {
					e.log.Warn("recreate consumer", "err", err)
				}
			}
			continue
		}
		bo.reset()
		if b == nil {
			continue
		}
		if err := e.export(ctx, b, false); err != nil {
			return // only ctx ends an export
		}
	}
}

// setup loads the export's state, finishes a batch a crash left in flight
// and positions the consumer after the last committed message.
func (e *exporter) setup(ctx context.Context) error {
	if err := e.load(ctx); err != nil {
		return err
	}
	if f := e.st.InFlight; f != nil {
		b, err := e.readRange(ctx, f.First, f.Last)
		if err != nil {
			return err
		}
		b.started = f.Started
		e.log.Info("finishing the batch a stop or crash interrupted", "first", f.First, "last", f.Last, "messages", len(b.msgs))
		if err := e.export(ctx, b, true); err != nil {
			return err
		}
	}
	return e.ensureConsumer(ctx)
}

// readRange reads messages first..last straight from the stream.
func (e *exporter) readRange(ctx context.Context, first, last uint64) (*batch, error) {
	b := &batch{first: first, last: last}
	for seq := first; seq <= last; seq++ {
		m, err := e.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // dropped by the stream's limits while we were down
		}
		if err != nil {
			return nil, fmt.Errorf("read message %d of %s: %w", seq, e.opts.Stream, err)
		}
		b.msgs = append(b.msgs, message{seq: seq, time: m.Time, data: m.Data})
	}
	return b, nil
}

// export sends b until it succeeds, then commits it. resuming says part of
// b may already be at the destination. It returns an error only when ctx
// ends, leaving b in flight for the next Start.
func (e *exporter) export(ctx context.Context, b *batch, resuming bool) error {
	if !resuming {
		b.started = time.Now()
		e.st.InFlight = &inFlight{First: b.first, Last: b.last, Started: b.started}
		for {
			// Nothing may be sent before the marker is stored: without it
			// a restart could cut this range differently.
			err := e.save(ctx)
			if err == nil {
				break
			}
			e.log.Warn("store the in-flight marker", "first", b.first, "last", b.last, "err", err)
			if !sleepCtx(ctx, minBackoff) {
				e.st.InFlight = nil
				return ctx.Err()
			}
		}
		hook("marked", b)
	}
	bo := newBackoff()
	for len(b.msgs) > 0 { // all of an interrupted batch may have aged out
		release, err := e.opts.Slots.acquire(ctx, e.common.Priority)
		if err != nil {
			return err
		}
		if resuming {
			err = e.dest.resume(ctx, b, &e.st)
		} else {
			err = e.dest.send(ctx, b, &e.st)
		}
		release()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.record(ctx, b, err)
		if err == nil {
			break
		}
		e.log.Warn("export attempt failed; retrying", "first", b.first, "last", b.last, "err", err, "retryIn", bo.peek())
		resuming = true
		if !bo.wait(ctx) {
			return ctx.Err()
		}
	}
	hook("sent", b)
	prev := e.st.Committed
	e.st.Committed, e.st.InFlight = b.last, nil
	for {
		err := e.save(ctx)
		if err == nil {
			break
		}
		// The destination has the batch; until the commit is stored a
		// restart would resume it, which is safe, so keep trying.
		e.log.Warn("store progress", "last", b.last, "err", err)
		if !sleepCtx(ctx, minBackoff) {
			e.st.Committed, e.st.InFlight = prev, &inFlight{First: b.first, Last: b.last, Started: b.started}
			return ctx.Err()
		}
	}
	hook("committed", b)
	e.ack(ctx, b)
	e.mu.Lock()
	e.status.LastExportedSequenceNumber = int64(b.last)
	e.status.ExportedMessagesCount += int64(len(b.msgs))
	e.status.ExportedBytesFromStream += b.bytes()
	e.mu.Unlock()
	return nil
}

// ack acknowledges a committed batch. Acks only spare the server
// redeliveries: the committed sequence in the state bucket is what prevents
// a second export, so a lost ack costs nothing.
func (e *exporter) ack(ctx context.Context, b *batch) {
	var last jetstream.Msg
	for _, m := range b.msgs {
		if m.msg == nil {
			continue
		}
		if last != nil {
			_ = last.Ack()
		}
		last = m.msg
	}
	if last != nil {
		// Waiting for the last ack means the server has counted every ack
		// of the batch before the next fetch, so MaxAckPending never holds
		// back the next batch.
		ackCtx, cancel := context.WithTimeout(ctx, idleWait)
		defer cancel()
		if err := last.DoubleAck(ackCtx); err != nil {
			e.log.Debug("ack", "seq", b.last, "err", err)
		}
	}
}

// record updates the status and appends a status record for one attempt.
func (e *exporter) record(ctx context.Context, b *batch, err error) {
	now := time.Now()
	a := ipc.ExportAttempt{
		StreamName:          e.opts.StreamName,
		ExportIdentifier:    e.common.Identifier,
		ExportType:          e.kind,
		Destination:         e.dest.where(b),
		FirstSequenceNumber: int64(b.first),
		LastSequenceNumber:  int64(b.last),
		MessageCount:        len(b.msgs),
		Status:              ipc.ExportSuccess,
		TimestampEpochMs:    now.UnixMilli(),
	}
	if err != nil {
		a.Status, a.ErrorMessage = ipc.ExportFailure, err.Error()
	}
	e.mu.Lock()
	e.status.LastExportTime = a.TimestampEpochMs
	e.status.ErrorMessage = a.ErrorMessage
	e.mu.Unlock()
	e.log.Debug("export attempt", "first", b.first, "last", b.last, "status", a.Status, "err", a.ErrorMessage)
	if e.opts.StatusPublish == nil {
		return
	}
	rec, _ := json.Marshal(a)
	if perr := e.opts.StatusPublish(ctx, rec); perr != nil {
		e.log.Warn("append export status record", "err", perr)
	}
}

// sleepCtx sleeps d or until ctx ends; it reports whether ctx is alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff doubles from minBackoff to maxBackoff.
type backoff struct{ next time.Duration }

func newBackoff() *backoff             { return &backoff{next: minBackoff} }
func (b *backoff) reset()              { b.next = minBackoff }
func (b *backoff) peek() time.Duration { return b.next }
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next
	b.next = min(2*b.next, maxBackoff)
	return sleepCtx(ctx, d)
}
