package shadow

import (
	shadowdoc "github.com/sward-iot/sward/shared/shadow"

	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/internal/kvbound"
	"github.com/sward-iot/sward/shared/ipc"
)

const (
	// MaxBucketBytes bounds the shadow bucket: nats-server reserves it in
	// the store when the bucket is created, so shadows keep their room
	// whatever MQTT clients and streams write. 64 MiB is two thousand
	// shadows at the largest document size.
	MaxBucketBytes = 64 << 20

	// DefaultBucket is the JetStream KV bucket holding one key per shadow.
	DefaultBucket = "sward_shadows"

	// DefaultMaxDocumentBytes is AWS IoT's and Greengrass's default
	// shadow document limit (shadowDocumentSizeLimitBytes), so a document
	// that fits locally also fits in the cloud.
	DefaultMaxDocumentBytes = 8192

	// MaxDocumentBytesLimit is the largest limit Greengrass's shadow
	// manager allows (30720); IoT Core refuses bigger documents, so a
	// larger local shadow could never be synchronised.
	MaxDocumentBytesLimit = 30720

	// DefaultRequestsPerSecondPerThing is Greengrass's
	// maxLocalRequestsPerSecondPerThing and IoT Core's per-thing shadow
	// request rate (20/s): a client that works against the local broker
	// is then not throttled when pointed at the cloud, and one runaway
	// client cannot keep the disk busy on behalf of one thing.
	DefaultRequestsPerSecondPerThing = 20

	// DefaultPageSize and MaxPageSize are ListNamedShadowsForThing's page
	// sizes in Greengrass IPC and the IoT data-plane API.
	DefaultPageSize = 25
	MaxPageSize     = 100

	// workers is how many MQTT/NATS requests are served at once. A request
	// spends most of its time waiting for JetStream's acknowledgement, not
	// on a CPU, so a few per core keep a 2-4 core board busy; requests for
	// one shadow always go to the same worker, so they are applied in the
	// order they arrived.
	workers = 16

	// workerQueue is each worker's backlog before the subscription stops
	// reading (and nats.go buffers, then reports a slow consumer): about
	// 25 ms of work at the measured rate, enough to absorb a burst.
	workerQueue = 256

	// lockStripes serialises read-modify-write of one shadow inside this
	// process (MQTT workers and Go callers alike), so compare-and-swap
	// retries only happen against another process writing the bucket.
	lockStripes = 64

	// requestTimeout bounds the storage calls of one MQTT/NATS request.
	// The in-process server answers in well under a millisecond; this only
	// runs out when JetStream is stuck (disk full, store lost).
	requestTimeout = 10 * time.Second

	// setupTimeout bounds creating or opening the bucket in Start.
	setupTimeout = 10 * time.Second

	// shutdownFlushTimeout bounds telling the server about the
	// unsubscriptions: the in-process server answers at once, and a broker
	// that is already gone must not hold up the nucleus's shutdown.
	shutdownFlushTimeout = 2 * time.Second
)

// Options configures a Service.
type Options struct {
	// Conn is an in-process connection with rights to publish and
	// subscribe to every shadow subject and to use JetStream. Required.
	Conn *nats.Conn

	// Bucket is the KV bucket name. Default DefaultBucket.
	Bucket string

	// MaxDocumentBytes limits a shadow's state: the compact JSON of its
	// desired and reported sections. 0 means
	// DefaultMaxDocumentBytes; at most MaxDocumentBytesLimit.
	MaxDocumentBytes int

	// RequestsPerSecondPerThing limits requests (get, update, delete,
	// list; every shadow of the thing together) per thing and second,
	// with a burst of one second's worth. 0 means
	// DefaultRequestsPerSecondPerThing; negative means unlimited.
	RequestsPerSecondPerThing int

	// Logger receives the service's logs with service=shadow. Default
	// slog.Default().
	Logger *slog.Logger

	// Now is the clock for timestamps and the rate limit. Default time.Now.
	Now func() time.Time
}

// Service serves local device shadows: the AWS IoT shadow topics on the
// broker, and the same operations as Go methods for the IPC front end.
type Service struct {
	opts    Options
	log     *slog.Logger
	limiter *limiter
	locks   [lockStripes]sync.Mutex
	cache   *cache

	kv    jetstream.KeyValue // set by Start before ready
	ready atomic.Bool

	mu      sync.Mutex
	subs    []*nats.Subscription
	queues  []chan *nats.Msg
	quit    chan struct{}
	wg      sync.WaitGroup
	started bool
	stopped bool
}

// New validates opts and fills defaults. It does no I/O.
func New(opts Options) (*Service, error) {
	if opts.Conn == nil {
		return nil, errors.New("shadow: Options.Conn is nil: pass an in-process broker connection with full rights")
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	switch {
	case opts.MaxDocumentBytes == 0:
		opts.MaxDocumentBytes = DefaultMaxDocumentBytes
	case opts.MaxDocumentBytes < 0 || opts.MaxDocumentBytes > MaxDocumentBytesLimit:
		return nil, fmt.Errorf("shadow: MaxDocumentBytes %d is out of range: use 1-%d (0 for the default %d); IoT Core refuses larger shadows",
			opts.MaxDocumentBytes, MaxDocumentBytesLimit, DefaultMaxDocumentBytes)
	}
	if opts.RequestsPerSecondPerThing == 0 {
		opts.RequestsPerSecondPerThing = DefaultRequestsPerSecondPerThing
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{
		opts:    opts,
		log:     opts.Logger.With("service", "shadow"),
		limiter: newLimiter(opts.RequestsPerSecondPerThing),
		cache:   newCache(),
		quit:    make(chan struct{}),
	}, nil
}

// Start creates or opens the KV bucket and subscribes to the shadow request
// subjects in queue group QueueGroup. It returns once the subscriptions are
// registered with the server; serving happens in the background.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("shadow: Start called twice: build a new Service with New")
	}
	s.started = true
	js, err := jetstream.New(s.opts.Conn)
	if err != nil {
		return fmt.Errorf("shadow: JetStream on the broker connection: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	kv, err := kvbound.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      s.opts.Bucket,
		Description: "Sward device shadows, one key per shadow (edge/shadow)",
		History:     1, // versions live in the document; older revisions serve nobody
		MaxBytes:    MaxBucketBytes,
		Storage:     jetstream.FileStorage, // shadows must outlive the process
		Replicas:    1,                     // one nucleus, one server
	}, s.log)
	if err != nil {
		return fmt.Errorf("shadow: create or open KV bucket %q: %w (is JetStream enabled on the broker?)", s.opts.Bucket, err)
	}
	s.kv = kv
	s.ready.Store(true)

	s.queues = make([]chan *nats.Msg, workers)
	for i := range s.queues {
		q := make(chan *nats.Msg, workerQueue)
		s.queues[i] = q
		s.wg.Add(1)
		go s.work(q)
	}
	for _, subj := range requestSubjects {
		sub, err := s.opts.Conn.QueueSubscribe(subj, QueueGroup, s.dispatch)
		if err != nil {
			s.stopLocked()
			return fmt.Errorf("shadow: subscribe %s: %w", subj, err)
		}
		s.subs = append(s.subs, sub)
	}
	sub, err := s.opts.Conn.QueueSubscribe(SubjectList, QueueGroup, s.serveList)
	if err != nil {
		s.stopLocked()
		return fmt.Errorf("shadow: subscribe %s: %w", SubjectList, err)
	}
	s.subs = append(s.subs, sub)
	if err := s.opts.Conn.FlushWithContext(ctx); err != nil {
		s.stopLocked()
		return fmt.Errorf("shadow: register subscriptions with the broker: %w", err)
	}
	s.log.Info("shadow service started", "bucket", s.opts.Bucket,
		"maxDocumentBytes", s.opts.MaxDocumentBytes, "requestsPerSecondPerThing", s.opts.RequestsPerSecondPerThing)
	return nil
}

// Shutdown stops serving: it unsubscribes and waits for the requests being
// served to finish. Requests still queued are dropped unanswered (their
// senders time out, as with a broker restart); the Go methods answer 500
// from then on, as they do before Start. The connection stays open; it
// belongs to the caller.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Service) stopLocked() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.ready.Store(false)
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	// The server learns of the unsubscriptions now, so a request sent after
	// Shutdown returns fails at once with no responders.
	_ = s.opts.Conn.FlushTimeout(shutdownFlushTimeout)
	close(s.quit)
	s.wg.Wait()
	s.log.Info("shadow service stopped")
}

// Get returns the shadow document (/get/accepted). name "" is the classic
// shadow. Errors are *Error.
func (s *Service) Get(ctx context.Context, thing, name string) ([]byte, error) {
	doc, e := s.get(ctx, thing, name, &shadowdoc.Request{})
	return doc, asError(e)
}

// Update applies an AWS update request document and returns the
// /update/accepted document. Like an MQTT update it also publishes
// /update/accepted, /update/delta (when desired differs from reported)
// and /update/documents. Errors are *Error; nothing is stored then.
func (s *Service) Update(ctx context.Context, thing, name string, doc []byte) ([]byte, error) {
	out, _, e := s.update(ctx, thing, name, doc, true)
	return out, asError(e)
}

// Delete deletes the shadow, publishes /delete/accepted and returns that
// document. The version carries on if the shadow is created again.
func (s *Service) Delete(ctx context.Context, thing, name string) ([]byte, error) {
	doc, e := s.delete(ctx, thing, name, &shadowdoc.Request{}, true)
	return doc, asError(e)
}

// ListNamed returns one page of thing's named shadow names, sorted, and the
// token of the next page ("" after the last). pageSize 0 means
// DefaultPageSize; at most MaxPageSize.
func (s *Service) ListNamed(ctx context.Context, thing, nextToken string, pageSize int) ([]string, string, error) {
	names, next, e := s.list(ctx, thing, nextToken, pageSize)
	return names, next, asError(e)
}

// asError keeps a nil *Error from becoming a non-nil error.
func asError(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// admit checks that the service runs, the names, and (limited) the
// thing's request rate.
func (s *Service) admit(thing, name string, limited bool) *Error {
	if !s.ready.Load() {
		s.log.Error("shadow request while the service is not running: call Start first (or it was shut down)")
		return shadowdoc.Internal()
	}
	if e := checkNames(thing, name); e != nil {
		return e
	}
	if limited && !s.limiter.allow(thing, s.opts.Now()) {
		return shadowdoc.Throttled()
	}
	return nil
}

func (s *Service) get(ctx context.Context, thing, name string, req *shadowdoc.Request) ([]byte, *Error) {
	if e := s.admit(thing, name, true); e != nil {
		return nil, e
	}
	cur, _, _, e := s.load(ctx, key(thing, name))
	if e != nil {
		return nil, e
	}
	if !cur.Exists() {
		return nil, shadowdoc.NotFound(thing, name)
	}
	return shadowdoc.GetAcceptedDocument(cur, req.ClientToken(), s.opts.Now().Unix()), nil
}

// update returns the accepted document, and the request's clientToken so a
// rejection can echo it. limited: the request counts against the thing's
// rate (not for the sync service's writes, see sync.go).
func (s *Service) update(ctx context.Context, thing, name string, payload []byte, limited bool) ([]byte, string, *Error) {
	if e := s.admit(thing, name, limited); e != nil {
		return nil, "", e
	}
	req, e := shadowdoc.ParseUpdate(payload)
	if e != nil {
		return nil, req.ClientToken(), e
	}
	k := key(thing, name)
	mu := s.lock(k)
	mu.Lock()
	defer mu.Unlock()
	for {
		ts := s.opts.Now().Unix()
		cur, raw, rev, fromCache, e := s.loadCached(ctx, k)
		if e != nil {
			return nil, req.ClientToken(), e
		}
		next, e := shadowdoc.Apply(cur, req, ts)
		var size int
		var data []byte
		if e == nil {
			data, size = next.Encode()
			if size > s.opts.MaxDocumentBytes {
				e = shadowdoc.TooLarge()
			}
		}
		if e != nil {
			if fromCache { // reject only on what the bucket holds
				s.cache.drop(k)
				continue
			}
			s.log.Debug("update rejected", "thing", thing, "shadow", name, "code", e.Code, "message", e.Message, "stateBytes", size)
			return nil, req.ClientToken(), e
		}
		if retry, e := s.store(ctx, k, data, rev, next); e != nil {
			return nil, req.ClientToken(), e
		} else if retry {
			continue
		}
		accepted := shadowdoc.UpdateAcceptedDocument(req, ts, next.Version)
		s.publish(Subject(thing, name, OpUpdate, ResultAccepted), accepted)
		if d := shadowdoc.DeltaDocument(req, next, ts); d != nil {
			s.publish(Subject(thing, name, OpUpdate, ResultDelta), d)
		}
		var previous []byte
		if cur.Exists() {
			previous = raw
		}
		s.publish(Subject(thing, name, OpUpdate, ResultDocuments), shadowdoc.DocumentsDocument(previous, data, ts, req.ClientToken()))
		s.log.Debug("shadow updated", "thing", thing, "shadow", name, "version", next.Version)
		return accepted, req.ClientToken(), nil
	}
}

func (s *Service) delete(ctx context.Context, thing, name string, req *shadowdoc.Request, limited bool) ([]byte, *Error) {
	if e := s.admit(thing, name, limited); e != nil {
		return nil, e
	}
	k := key(thing, name)
	mu := s.lock(k)
	mu.Lock()
	defer mu.Unlock()
	for {
		cur, _, rev, fromCache, e := s.loadCached(ctx, k)
		if e != nil {
			return nil, e
		}
		if e = shadowdoc.CheckDelete(cur, req, thing, name); e != nil {
			if fromCache { // reject only on what the bucket holds
				s.cache.drop(k)
				continue
			}
			return nil, e
		}
		gone := shadowdoc.Tombstone(cur.Version)
		tomb, _ := gone.Encode()
		if retry, e := s.store(ctx, k, tomb, rev, gone); e != nil {
			return nil, e
		} else if retry {
			continue
		}
		doc := shadowdoc.DeleteAcceptedDocument(cur.Version, s.opts.Now().Unix(), req.ClientToken())
		s.publish(Subject(thing, name, OpDelete, ResultAccepted), doc)
		s.log.Debug("shadow deleted", "thing", thing, "shadow", name, "version", cur.Version)
		return doc, nil
	}
}

func (s *Service) list(ctx context.Context, thing, token string, pageSize int) ([]string, string, *Error) {
	if e := s.admit(thing, "", true); e != nil {
		return nil, "", e
	}
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", shadowdoc.BadRequest("Invalid pageSize %d: use 1-%d", pageSize, MaxPageSize)
	}
	var after string
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !validName(string(b), maxShadowNameLen) {
			return nil, "", shadowdoc.BadRequest("Invalid nextToken: pass the nextToken of the previous page unchanged")
		}
		after = string(b)
	}
	w, err := s.kv.Watch(ctx, namedPrefix(thing)+"*", jetstream.IgnoreDeletes())
	if err != nil {
		s.log.Error("list named shadows", "thing", thing, "error", err)
		return nil, "", shadowdoc.Internal()
	}
	defer func() { _ = w.Stop() }()
	var names []string
	for {
		var ent jetstream.KeyValueEntry
		select {
		case ent = <-w.Updates():
		case <-ctx.Done():
			return nil, "", shadowdoc.Internal()
		}
		if ent == nil {
			break // the initial values are all delivered
		}
		if shadowdoc.IsTombstone(ent.Value()) {
			continue
		}
		n := unescape(ent.Key()[len(namedPrefix(thing)):])
		if n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	next := ""
	if len(names) > pageSize {
		names = names[:pageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(names[pageSize-1]))
	}
	if names == nil {
		names = []string{}
	}
	return names, next, nil
}

// load reads a shadow's record, its stored bytes and KV revision; a nil
// record and revision 0 when the key does not exist.
func (s *Service) load(ctx context.Context, k string) (*shadowdoc.Record, []byte, uint64, *Error) {
	ent, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, 0, nil
	}
	if err != nil {
		s.log.Error("read shadow", "key", k, "error", err)
		return nil, nil, 0, shadowdoc.Internal()
	}
	r, err := shadowdoc.DecodeRecord(ent.Value())
	if err != nil {
		s.log.Error("stored shadow is not a shadow record; delete the key to start it afresh",
			"bucket", s.opts.Bucket, "key", k, "error", err)
		return nil, nil, 0, shadowdoc.Internal()
	}
	return r, ent.Value(), ent.Revision(), nil
}

// loadCached is load through the cache; callers hold the key's lock.
// fromCache says the record may be stale: a decision against it must be
// checked against the bucket (the swap does that for writes).
func (s *Service) loadCached(ctx context.Context, k string) (rec *shadowdoc.Record, raw []byte, rev uint64, fromCache bool, e *Error) {
	if c, ok := s.cache.get(k); ok {
		return c.rec, c.raw, c.rev, true, nil
	}
	rec, raw, rev, e = s.load(ctx, k)
	return rec, raw, rev, false, e
}

// store writes rec's encoding data if the key is still at rev (0: must
// not exist) and caches it. retry reports a lost compare-and-swap: another
// writer got there first, so the caller reads again and re-applies its
// request.
func (s *Service) store(ctx context.Context, k string, data []byte, rev uint64, rec *shadowdoc.Record) (retry bool, e *Error) {
	var err error
	var newRev uint64
	if rev == 0 {
		newRev, err = s.kv.Create(ctx, k, data)
	} else {
		newRev, err = s.kv.Update(ctx, k, data, rev)
	}
	switch {
	case err == nil:
		s.cache.put(k, cached{rec: rec, raw: data, rev: newRev})
		return false, nil
	case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		s.cache.drop(k)
		if ctx.Err() != nil {
			return false, shadowdoc.Internal()
		}
		s.log.Debug("shadow changed concurrently, retrying", "key", k)
		return true, nil
	default:
		s.cache.drop(k) // the write may have happened after all
		s.log.Error("write shadow", "key", k, "error", err)
		return false, shadowdoc.Internal()
	}
}

func (s *Service) lock(k string) *sync.Mutex { return &s.locks[hash(k)%lockStripes] }

func hash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

func (s *Service) publish(subject string, data []byte) {
	if err := s.opts.Conn.Publish(subject, data); err != nil {
		s.log.Warn("publish shadow message", "subject", subject, "error", err)
	}
}

// dispatch hands an MQTT/NATS request to the worker of its shadow.
func (s *Service) dispatch(m *nats.Msg) {
	thing, name, _, ok := parseSubject(m.Subject)
	if !ok {
		return
	}
	q := s.queues[hash(thing+"/"+name)%uint32(len(s.queues))]
	select {
	case q <- m:
	case <-s.quit:
	}
}

func (s *Service) work(q chan *nats.Msg) {
	defer s.wg.Done()
	for {
		select {
		case m := <-q:
			s.serve(m)
		case <-s.quit:
			return
		}
	}
}

// serve answers one request: the result goes to the /accepted or /rejected
// topic as in AWS IoT, and also to the reply subject of a NATS request.
func (s *Service) serve(m *nats.Msg) {
	thing, name, op, _ := parseSubject(m.Subject)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var (
		doc   []byte
		token string
		e     *Error
	)
	switch op {
	case OpUpdate:
		doc, token, e = s.update(ctx, thing, name, m.Data, true)
	case OpGet, OpDelete:
		var req *shadowdoc.Request
		req, e = shadowdoc.ParseRequest(m.Data)
		token = req.ClientToken()
		if e == nil && op == OpGet {
			doc, e = s.get(ctx, thing, name, req)
			if e == nil {
				s.publish(Subject(thing, name, op, ResultAccepted), doc)
			}
		} else if e == nil {
			doc, e = s.delete(ctx, thing, name, req, true)
		}
	}
	if e != nil {
		s.log.Debug("shadow request rejected", "subject", m.Subject, "code", e.Code, "message", e.Message)
		doc = shadowdoc.ErrorDocument(e, token, s.opts.Now().Unix())
		s.publish(Subject(thing, name, op, ResultRejected), doc)
	}
	if replyAllowed(m.Reply) {
		s.publish(m.Reply, doc)
	} else if m.Reply != "" {
		s.log.Warn("shadow reply subject refused: not an inbox the service may answer on", "subject", m.Subject, "reply", m.Reply)
	}
}

// replyAllowed reports whether the service may answer a request on reply.
// A request on the shadow topics does not say who sent it, so the service
// cannot tell a component's own inbox from another's: it answers on
// component inboxes (SWARD_INBOX_PREFIX, under ipc.InboxRoot) never, as
// the IPC front end answers only on the caller's own. Components get their
// answer from the IPC operations or the accepted/rejected topics; the
// nucleus and the CLI (_INBOX.) are answered.
func replyAllowed(reply string) bool {
	return ipc.ReplyAllowed(reply) && !strings.HasPrefix(reply, ipc.InboxRoot+".")
}

// listRequest and listResponse are SubjectList's documents, shaped like
// the ListNamedShadowsForThing request and response.
type listRequest struct {
	ThingName string `json:"thingName"`
	NextToken string `json:"nextToken,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
}

type listResponse struct {
	Results   []string `json:"results"`
	NextToken string   `json:"nextToken,omitempty"`
	Timestamp int64    `json:"timestamp"`
}

func (s *Service) serveList(m *nats.Msg) {
	if !replyAllowed(m.Reply) {
		return // nothing to answer, or a subject that is not an inbox
	}
	var req listRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		s.publish(m.Reply, shadowdoc.ErrorDocument(shadowdoc.Bad(shadowdoc.MsgInvalidJSON), "", s.opts.Now().Unix()))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	names, next, e := s.list(ctx, req.ThingName, req.NextToken, req.PageSize)
	if e != nil {
		s.publish(m.Reply, shadowdoc.ErrorDocument(e, "", s.opts.Now().Unix()))
		return
	}
	s.publish(m.Reply, shadowdoc.Marshal(listResponse{Results: names, NextToken: next, Timestamp: s.opts.Now().Unix()}))
}
