package shadowsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/sward-iot/sward/edge/internal/kvbound"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/shared/topics"
)

const (
	// workers sync that many shadows at once: a sync mostly waits for the
	// cloud's answer, and the outbound rate bounds them all together.
	workers = 4
	// maxAttempts bounds the passes of one sync that lose a race (a
	// version conflict on either side) before it waits for a retry.
	maxAttempts = 5
	// minRetry and maxRetry bound the wait before a failed sync is tried
	// again (doubling per failure in a row).
	minRetry = time.Second
	maxRetry = time.Minute
	// bucketBytes bounds the records' bucket: a record is at most one
	// shadow document (30 KB) and some versions, the shadows' bucket is
	// 64 MiB, and every synced shadow has one record.
	bucketBytes = 64 << 20
	// setupTimeout bounds opening the bucket and subscribing at Start.
	setupTimeout = 10 * time.Second
)

// record is what the service keeps per shadow after each sync, durably:
// the state both sides had then (the base of the next three-way merge)
// and each side's version then. Versions are each side's own; neither is
// ever written to the other side.
type record struct {
	LocalExists  bool  `json:"localExists"`
	LocalVersion int64 `json:"localVersion"`
	CloudExists  bool  `json:"cloudExists"`
	CloudVersion int64 `json:"cloudVersion"`
	State        state `json:"state"`
}

// entry is one synced shadow's scheduling state; its fields are guarded
// by Service.mu.
type entry struct {
	sh Shadow
	// cloud is the cloud shadow as last seen (an answer, our own write,
	// or the cloud's update/documents and delete/accepted); cloudKnown is
	// false until then, and again after a reconnect, so the next sync
	// reads it first.
	cloud      shadow.Snapshot
	cloudKnown bool
	dirty      bool // a change to sync
	queued     bool // in Service.queue
	running    bool // a worker syncs it now
	failures   int  // syncs failed in a row, for the retry wait
	retry      *time.Timer
	// unconfirmed is a cloud write whose answer never came (the link
	// dropped, or the answer was lost): the next sync checks whether it
	// landed. Only the worker syncing the entry uses it.
	unconfirmed *unconfirmed
}

// unconfirmed is a cloud write of the device's whole state (want equal
// to the local shadow at its version in record) that the cloud may or
// may not have applied: if the cloud is at the next version with exactly
// that state, it did, and that state is the base of the next merge.
// Without this, a lost answer would leave the older base, and the changes
// both sides make afterwards would meet as conflicts.
type unconfirmed struct {
	prevExists  bool
	prevVersion int64
	want        state
	record      record
}

// Service keeps the configured local shadows in sync with IoT Core's.
//
// Goroutines (all ended by Shutdown): the workers, the local watch (the
// shadow service's, waited for), the periodic ticker with the periodic
// strategy; retry timers only mark a shadow.
type Service struct {
	opts      Options
	log       *slog.Logger
	shadows   []Shadow
	entries   map[Shadow]*entry // fixed at New
	periodic  time.Duration
	direction Direction
	limiter   *rate.Limiter
	sent      atomic.Uint64 // requests to the cloud
	wrote     atomic.Uint64 // syncs that wrote to a side
	failed    atomic.Uint64 // syncs that failed (retried or skipped)

	kv     jetstream.KeyValue
	queue  chan *entry
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*nats.Subscription
	unsubs []func(context.Context) error

	pending   iotcore.Pending[answer] // requests waiting for the cloud's answer
	mu        sync.Mutex
	connected bool
}

// New validates opts. It subscribes to nothing and starts nothing.
func New(opts Options) (*Service, error) {
	var errs []error
	if opts.Local == nil {
		errs = append(errs, errors.New("shadow sync: Options.Local is required (the device's shadow service)"))
	}
	if opts.Link == nil {
		errs = append(errs, errors.New("shadow sync: Options.Link is required: shadows sync only with an IoT Core link (set iotDataEndpoint)"))
	}
	if opts.Conn == nil {
		errs = append(errs, errors.New("shadow sync: Options.Conn is required (the nucleus's bus connection)"))
	}
	shadows, err := opts.Config.Shadows(opts.ThingName)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	perSecond := opts.Config.MaxOutboundPerSecond
	if perSecond == 0 {
		perSecond = DefaultMaxOutboundPerSecond
	}
	dir := opts.Config.Direction
	if dir == "" {
		dir = BetweenDeviceAndCloud
	}
	s := &Service{
		opts:      opts,
		log:       opts.Logger.With("service", "shadowsync"),
		shadows:   shadows,
		entries:   map[Shadow]*entry{},
		direction: dir,
		limiter:   rate.NewLimiter(rate.Limit(perSecond), int(math.Max(1, perSecond))),
		queue:     make(chan *entry, len(shadows)),
	}
	if opts.Config.Strategy == Periodic {
		s.periodic = opts.Config.Delay
	}
	for _, sh := range shadows {
		s.entries[sh] = &entry{sh: sh}
	}
	return s, nil
}

// Name is the service's name in the nucleus's list.
func (s *Service) Name() string { return "shadow sync" }

// Shadows lists the synced shadows.
func (s *Service) Shadows() []Shadow { return s.shadows }

// Start opens the records' bucket, subscribes to the synced things'
// cloud shadow topics and to the link's state, watches the local shadows
// and starts the workers. A full sync of every shadow starts now if the
// link is up, else when it comes up; and after every reconnect.
func (s *Service) Start(ctx context.Context) (err error) {
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	js, err := jetstream.New(s.opts.Conn)
	if err != nil {
		return fmt.Errorf("shadow sync: JetStream: %w", err)
	}
	s.kv, err = kvbound.Open(setup, js, jetstream.KeyValueConfig{
		Bucket:      s.opts.Bucket,
		Description: "Sward shadow sync records: per shadow, the last synced state and both versions (edge/shadowsync)",
		History:     1,
		MaxBytes:    bucketBytes,
		Storage:     jetstream.FileStorage, // the base of the next merge must outlive the process
		Replicas:    1,
	}, s.log)
	if err != nil {
		return fmt.Errorf("shadow sync: create or open KV bucket %q: %w", s.opts.Bucket, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.stop(context.Background())
		}
	}()
	things := map[string]bool{}
	for _, sh := range s.shadows {
		if things[sh.Thing] {
			continue
		}
		things[sh.Thing] = true
		unsub, err := s.opts.Link.Subscribe(setup, filter(sh.Thing), 1, s.onCloud)
		if err != nil {
			return fmt.Errorf("shadow sync: subscribe to %s: %w", filter(sh.Thing), err)
		}
		s.unsubs = append(s.unsubs, unsub)
	}
	sub, err := s.opts.Conn.Subscribe(topics.CloudLinkStateSubject, s.onLinkState)
	if err != nil {
		return fmt.Errorf("shadow sync: subscribe to %s: %w", topics.CloudLinkStateSubject, err)
	}
	s.subs = append(s.subs, sub)
	if err := s.opts.Conn.FlushWithContext(setup); err != nil {
		return fmt.Errorf("shadow sync: subscribe: %w", err)
	}
	watching, err := s.opts.Local.Watch(s.ctx, s.onLocal)
	if err != nil {
		return fmt.Errorf("shadow sync: %w", err)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); <-watching }()
	for range workers {
		s.wg.Add(1)
		go s.work()
	}
	if s.periodic > 0 {
		s.wg.Add(1)
		go s.tick()
	}
	s.log.Info("shadow sync started", "shadows", len(s.shadows), "direction", s.direction,
		"strategy", map[bool]string{true: Periodic, false: RealTime}[s.periodic > 0], "maxOutboundSyncUpdatesPerSecond", s.limiter.Limit())
	if s.opts.Link.State(setup).Connected {
		s.linkUp()
	}
	return nil
}

// Shutdown stops the workers once their current sync ends (or ctx does).
// What was not synced yet is synced after the next start: the records and
// both shadows say what changed.
func (s *Service) Shutdown(ctx context.Context) error {
	return s.stop(ctx)
}

func (s *Service) stop(ctx context.Context) error {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	for _, u := range s.unsubs {
		_ = u(ctx)
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Lock()
	for _, e := range s.entries {
		if e.retry != nil {
			e.retry.Stop()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shadow sync shutdown: %w", ctx.Err())
	}
}

// onLocal is the local bucket's watch: a synced shadow changed.
func (s *Service) onLocal(thing, name string) {
	if e := s.entries[Shadow{Thing: thing, Name: name}]; e != nil {
		s.mark(e)
	}
}

// onLinkState follows the link: every (re)connection forgets what the
// cloud shadows were and syncs them all.
func (s *Service) onLinkState(m *nats.Msg) {
	var st iotcore.State
	if err := json.Unmarshal(m.Data, &st); err != nil {
		return
	}
	s.mu.Lock()
	was := s.connected
	s.connected = st.Connected
	s.mu.Unlock()
	if st.Connected && !was {
		s.linkUp()
	}
}

// linkUp starts a full sync: every shadow is read on both sides again.
func (s *Service) linkUp() {
	s.mu.Lock()
	s.connected = true
	for _, e := range s.entries {
		e.cloudKnown = false
	}
	s.mu.Unlock()
	s.log.Info("full shadow sync", "shadows", len(s.shadows))
	for _, sh := range s.shadows {
		s.markNow(s.entries[sh])
	}
}

// mark notes a change of e to sync: at once with the realTime strategy,
// at the next tick with the periodic one.
func (s *Service) mark(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.dirty = true
	if s.periodic == 0 {
		s.enqueueLocked(e)
	}
}

// markNow queues e whatever the strategy (full syncs, retries).
func (s *Service) markNow(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.dirty = true
	s.enqueueLocked(e)
}

func (s *Service) enqueueLocked(e *entry) {
	if e.queued || e.running || s.ctx.Err() != nil {
		return // a running sync is followed by another (work)
	}
	e.queued = true
	s.queue <- e // never blocks: each entry is queued at most once
}

func (s *Service) tick() {
	defer s.wg.Done()
	t := time.NewTicker(s.periodic)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			for _, e := range s.entries {
				if e.dirty {
					s.enqueueLocked(e)
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		var e *entry
		select {
		case <-s.ctx.Done():
			return
		case e = <-s.queue:
		}
		s.mu.Lock()
		e.queued, e.running, e.dirty = false, true, false
		s.mu.Unlock()
		err := s.sync(s.ctx, e)
		s.mu.Lock()
		e.running = false
		switch {
		case err == nil:
			e.failures = 0
			if e.dirty && s.periodic == 0 {
				s.enqueueLocked(e)
			}
		case errors.Is(err, errOffline) || s.ctx.Err() != nil:
			e.dirty = true // synced by the full sync when the link is back
			if s.connected {
				// It came back while this sync ran: its full sync found
				// this shadow running and left it to be queued here.
				s.enqueueLocked(e)
			}
		default:
			e.dirty = true
			s.failed.Add(1)
			var ce *cloudError
			var le *shadow.Error
			if errors.As(err, &ce) && ce.permanent() || errors.As(err, &le) && le.Code != 409 && le.Code != 429 && le.Code != 500 {
				// Retrying changes nothing: the next change of the shadow,
				// or the next full sync, tries again.
				s.log.Error("shadow not synced: fix the shadow (or its size) on the side named", "shadow", e.sh.String(), "error", err)
				break
			}
			e.failures++
			wait := min(maxRetry, minRetry<<min(e.failures-1, 10))
			s.log.Warn("shadow sync failed, retrying", "shadow", e.sh.String(), "error", err, "retryIn", wait.String())
			if e.retry != nil {
				e.retry.Stop()
			}
			e.retry = time.AfterFunc(wait, func() { s.markNow(e) })
		}
		s.mu.Unlock()
	}
}

// sync brings one shadow in sync, passing again when a conditional write
// lost a race.
func (s *Service) sync(ctx context.Context, e *entry) error {
	var err error
	for range maxAttempts {
		if err = s.pass(ctx, e); !errors.Is(err, errConflict) {
			return err
		}
		s.mu.Lock()
		e.cloudKnown = false
		s.mu.Unlock()
	}
	return fmt.Errorf("%s: %w on every one of %d attempts", e.sh, err, maxAttempts)
}

// pass is one sync of one shadow: read the record and both sides, decide,
// write what each side lacks, record the result.
func (s *Service) pass(ctx context.Context, e *entry) error {
	sh := e.sh
	rec, err := s.loadRecord(ctx, sh)
	if err != nil {
		return err
	}
	local, err := s.opts.Local.Snapshot(ctx, sh.Thing, sh.Name)
	if err != nil {
		return fmt.Errorf("read local shadow %s: %w", sh, err)
	}
	s.mu.Lock()
	cloud, known := e.cloud, e.cloudKnown
	s.mu.Unlock()
	if !known {
		if cloud, err = s.cloudGet(ctx, sh); err != nil {
			return err
		}
		s.learn(e, cloud)
	}
	if u := e.unconfirmed; u != nil {
		e.unconfirmed = nil
		if cloud.Exists && (!u.prevExists || cloud.Version == u.prevVersion+1) && equalState(asState(cloud), u.want) {
			r := u.record
			r.CloudExists, r.CloudVersion = true, cloud.Version
			if err := s.saveRecord(ctx, sh, r); err != nil {
				return err
			}
			rec = &r
			s.log.Info("a cloud write whose answer was lost had landed", "shadow", sh.String(), "cloudVersion", cloud.Version)
		}
	}
	p := decide(s.direction, rec, local, cloud)
	if p.noop {
		return nil
	}
	next := p.record
	switch {
	case p.cloudDelete:
		if err := s.cloudDelete(ctx, sh, cloud.Version); err != nil {
			return err
		}
		s.learn(e, shadow.Snapshot{Version: cloud.Version})
		next.CloudExists, next.CloudVersion = false, cloud.Version
	case p.cloudWrite:
		version := cloud.Version
		if !cloud.Exists {
			version = 0
		}
		if doc := updateDocument(asState(cloud), p.want, version, ""); doc != nil {
			v, err := s.cloudUpdate(ctx, sh, doc)
			if errors.Is(err, errNoAnswer) {
				if local.Exists && equalState(asState(local), p.want) {
					r := next
					r.State = p.want
					e.unconfirmed = &unconfirmed{prevExists: cloud.Exists, prevVersion: cloud.Version, want: p.want, record: r}
				}
				s.mu.Lock()
				e.cloudKnown = false
				s.mu.Unlock()
			}
			if err != nil {
				return err
			}
			s.learn(e, shadow.Snapshot{Exists: true, Version: v, Desired: p.want.Desired, Reported: p.want.Reported})
			next.CloudExists, next.CloudVersion = true, v
		}
	}
	switch {
	case p.localDelete:
		if err := s.opts.Local.SyncDelete(ctx, sh.Thing, sh.Name, local.Version); err != nil && !isCode(err, 404) {
			return conflictOr(err)
		}
		next.LocalExists, next.LocalVersion = false, local.Version
	case p.localWrite:
		version := local.Version
		if !local.Exists {
			version = 0
		}
		if doc := updateDocument(asState(local), p.want, version, ""); doc != nil {
			v, err := s.opts.Local.SyncUpdate(ctx, sh.Thing, sh.Name, doc)
			if err != nil {
				return conflictOr(err)
			}
			next.LocalExists, next.LocalVersion = true, v
		}
	}
	if err := s.saveRecord(ctx, sh, next); err != nil {
		return err
	}
	if p.cloudWrite || p.cloudDelete || p.localWrite || p.localDelete {
		s.wrote.Add(1)
	}
	s.log.Debug("shadow synced", "shadow", sh.String(), "localVersion", next.LocalVersion, "cloudVersion", next.CloudVersion,
		"wroteCloud", p.cloudWrite || p.cloudDelete, "wroteLocal", p.localWrite || p.localDelete)
	return nil
}

func isCode(err error, code int) bool {
	var le *shadow.Error
	return errors.As(err, &le) && le.Code == code
}

// conflictOr turns the local service's 409 into errConflict.
func conflictOr(err error) error {
	if isCode(err, 409) {
		return errConflict
	}
	return fmt.Errorf("local shadow: %w", err)
}

func asState(s shadow.Snapshot) state { return state{Desired: s.Desired, Reported: s.Reported} }

// equalState compares two shadows' sections as the merge does.
func equalState(a, b state) bool {
	return diff(a.Desired, b.Desired) == nil && diff(a.Reported, b.Reported) == nil
}

func (s *Service) loadRecord(ctx context.Context, sh Shadow) (*record, error) {
	ent, err := s.kv.Get(ctx, shadow.Key(sh.Thing, sh.Name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sync record of %s: %w", sh, err)
	}
	var r record
	if err := decode(ent.Value(), &r); err != nil {
		// A record that cannot be read is a first sync: nothing is lost,
		// the merge just has no base.
		s.log.Error("sync record unreadable, syncing the shadow as for the first time", "shadow", sh.String(), "error", err)
		return nil, nil
	}
	return &r, nil
}

func (s *Service) saveRecord(ctx context.Context, sh Shadow, r record) error {
	data, _ := json.Marshal(r)
	if _, err := s.kv.Put(ctx, shadow.Key(sh.Thing, sh.Name), data); err != nil {
		return fmt.Errorf("write sync record of %s: %w", sh, err)
	}
	return nil
}

// Stats are the service's counters.
type Stats struct {
	// Requests is how many requests were sent to the cloud.
	Requests uint64
	// Syncs is how many syncs wrote to one side or both.
	Syncs uint64
	// Failures is how many syncs failed (each is logged, and retried
	// unless retrying cannot help).
	Failures uint64
	// Pending is how many shadows wait to be synced now.
	Pending int
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	st := Stats{Requests: s.sent.Load(), Syncs: s.wrote.Load(), Failures: s.failed.Load()}
	s.mu.Lock()
	for _, e := range s.entries {
		if e.dirty || e.queued || e.running {
			st.Pending++
		}
	}
	s.mu.Unlock()
	return st
}
