package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/shared/ipc"
)

const (
	// setupTimeout bounds one JetStream management call (create, update,
	// delete, info, list). They go to the in-process server and answer in
	// milliseconds; a create of a large file stream may take longer on a
	// slow SD card, never seconds.
	setupTimeout = 10 * time.Second

	// maxPendingAppends caps appends awaiting their JetStream
	// acknowledgement across all streams. One per concurrent appender; 16k
	// covers any realistic number of components and costs a map entry
	// each. Beyond it an append waits (then fails) rather than buffering
	// without bound.
	maxPendingAppends = 16 << 10

	// appendAckTimeout bounds the wait for JetStream's acknowledgement of
	// one append. The server answers in microseconds; this only fires when
	// JetStream is stuck (disk full, store closing).
	appendAckTimeout = 10 * time.Second

	// responseSlack is the part of the broker's max payload kept free when a
	// ReadMessages response is sized: the envelope an IPC front end adds
	// around the body.
	responseSlack = 4 << 10
)

// Options configures a Manager.
type Options struct {
	// Conn is an in-process connection to the broker with full rights
	// (JetStream API, $SWARD.>). Required. The Manager does not close it.
	Conn *nats.Conn

	// JetStreamStoreDir is the broker's StoreDir (broker.Options.StoreDir,
	// e.g. <root>/jetstream). flushOnWrite streams fsync JetStream's files
	// under it; without it, creating a flushOnWrite stream is refused.
	JetStreamStoreDir string

	// Exporters starts the exporters of a stream that has an
	// exportDefinition. Nil: such streams are refused (nothing would export
	// them).
	Exporters ExporterFactory

	// ForgetExports, when set, is called with a deleted stream's JetStream
	// name so the exporters' progress records go with it (the nucleus
	// passes export.Forget).
	ForgetExports func(ctx context.Context, jetStreamName string) error

	// ServeAdmin answers the admin API ($SWARD.stream.<Operation>) on Conn
	// from Start until Shutdown. The nucleus turns it on; tests that only
	// use the Go methods leave it off.
	ServeAdmin bool

	// Reserved names the nucleus's own streams (its export status stream):
	// ForComponents refuses components every write to them.
	Reserved []string

	// Logger receives the manager's logs with service=stream. Default
	// slog.Default().
	Logger *slog.Logger
}

// Manager owns the stream manager streams: it maps them onto JetStream
// streams, makes flushOnWrite appends durable, runs their exporters and
// answers the stream manager operations. Safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream

	// admin serializes Create, Update and Delete (and Start, Shutdown).
	admin sync.Mutex

	mu      sync.RWMutex
	streams map[string]*managed
	state   state
	subs    []*nats.Subscription

	ctx    context.Context // cancelled by Shutdown: wakes waiting reads
	cancel context.CancelFunc
	wg     sync.WaitGroup // admin API handlers
}

type state int

const (
	created state = iota
	running
	stopped
)

// managed is one stream as the Manager serves it. Update replaces it with a
// new value; the notifier carries over.
type managed struct {
	def      ipc.MessageStreamDefinition
	jsName   string
	subject  string
	sync     *syncer   // flushOnWrite streams only
	exporter Exporter  // streams with an exportDefinition only
	notify   *notifier // wakes ReadMessages waiting for new messages
}

// New checks opts and builds a Manager. It does not touch JetStream; Start
// does.
func New(opts Options) (*Manager, error) {
	if opts.Conn == nil {
		return nil, errors.New("stream: Options.Conn is nil: pass an in-process broker connection with full rights (broker.Connect)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	js, err := jetstream.New(opts.Conn,
		jetstream.WithPublishAsyncMaxPending(maxPendingAppends),
		jetstream.WithPublishAsyncTimeout(appendAckTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("stream: JetStream context: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		opts:    opts,
		log:     opts.Logger.With("service", "stream"),
		nc:      opts.Conn,
		js:      js,
		streams: make(map[string]*managed),
		ctx:     ctx,
		cancel:  cancel,
	}, nil
}

// Start loads the existing streams from JetStream, starts their group
// commit and exporters, and serves the admin API if asked. It returns once
// the streams are loaded; it does not block.
func (m *Manager) Start(ctx context.Context) error {
	m.admin.Lock()
	defer m.admin.Unlock()
	m.mu.Lock()
	if m.state != created {
		m.mu.Unlock()
		return errors.New("stream: Start called twice: build a new Manager with New")
	}
	m.state = running
	m.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	lister := m.js.ListStreams(ctx, jetstream.WithStreamListSubject(SubjectPrefix+">"))
	var loaded []*jetstream.StreamInfo
	for info := range lister.Info() {
		if strings.HasPrefix(info.Config.Name, jetStreamPrefix) {
			loaded = append(loaded, info)
		}
	}
	if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("stream: list JetStream streams: %w (is JetStream enabled on the broker?)", err)
	}
	for _, info := range loaded {
		def, err := definitionOf(info.Config)
		if err == nil {
			def, err = normalizeLoaded(def)
		}
		if err != nil {
			m.log.Error("stream not served", "jetstream", info.Config.Name, "error", err)
			continue
		}
		st, err := m.open(ctx, def, nil)
		if err != nil {
			m.log.Error("stream not served", "stream", def.Name, "error", err)
			continue
		}
		m.mu.Lock()
		m.streams[def.Name] = st
		m.mu.Unlock()
	}
	if m.opts.ServeAdmin {
		if err := m.serveAdmin(); err != nil {
			return err
		}
	}
	m.log.Info("stream manager started", "streams", len(loaded), "admin", m.opts.ServeAdmin)
	return nil
}

// normalizeLoaded re-checks a stored definition, so a stream written by an
// older nucleus with other defaults is served with its values filled in.
func normalizeLoaded(d ipc.MessageStreamDefinition) (ipc.MessageStreamDefinition, error) {
	n, e := normalize(d)
	if e != nil {
		return d, fmt.Errorf("stored definition is no longer valid: %s", e.Message)
	}
	return n, nil
}

// Shutdown stops the admin API, the exporters and the group commits (a
// group in flight is fsync'd first) and wakes waiting reads. It does not
// close the connection.
func (m *Manager) Shutdown() {
	m.admin.Lock()
	defer m.admin.Unlock()
	m.mu.Lock()
	if m.state == stopped {
		m.mu.Unlock()
		return
	}
	m.state = stopped
	subs := m.subs
	m.subs = nil
	streams := m.streams
	m.streams = map[string]*managed{}
	m.mu.Unlock()

	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	m.cancel()
	m.wg.Wait()
	for _, st := range streams {
		st.close()
	}
	m.log.Info("stream manager stopped")
}

// open builds the runtime side of a stream whose JetStream stream exists:
// group commit for flushOnWrite, exporters. prev, when set, is the stream
// being replaced by an update; its notifier carries over.
func (m *Manager) open(ctx context.Context, def ipc.MessageStreamDefinition, prev *managed) (*managed, error) {
	st := &managed{def: def, jsName: JetStreamName(def.Name), subject: Subject(def.Name), notify: &notifier{}}
	if prev != nil {
		st.notify = prev.notify
	}
	if durable(def) {
		if prev != nil && prev.sync != nil {
			st.sync = prev.sync
		} else {
			s, err := m.newSyncer(st.jsName)
			if err != nil {
				return nil, err
			}
			st.sync = s
		}
	}
	if def.ExportDefinition != nil {
		if prev != nil && prev.exporter != nil && sameExport(prev.def.ExportDefinition, def.ExportDefinition) {
			st.exporter = prev.exporter
		} else {
			e, err := m.startExporter(st)
			if err != nil {
				if st.sync != nil && (prev == nil || prev.sync != st.sync) {
					st.sync.close()
				}
				return nil, err
			}
			if e != nil {
				st.exporter = e
			}
		}
	}
	return st, nil
}

func (m *Manager) newSyncer(jsName string) (*syncer, error) {
	if m.opts.JetStreamStoreDir == "" {
		return nil, ipc.Errorf(ipc.CodeInvalidArguments, "flushOnWrite is not available: the nucleus was started without the JetStream store folder (stream.Options.JetStreamStoreDir); create the stream without flushOnWrite")
	}
	dir, err := streamDir(m.opts.JetStreamStoreDir, jsName)
	if err != nil {
		return nil, err
	}
	return newSyncer(dir)
}

// close stops what open started.
func (st *managed) close() {
	if st.exporter != nil {
		st.exporter.Stop()
	}
	if st.sync != nil {
		st.sync.close()
	}
	st.notify.wake()
}

// lookup returns a served stream or a ResourceNotFoundError.
func (m *Manager) lookup(name string) (*managed, *ipc.Error) {
	m.mu.RLock()
	st, ok := m.streams[name]
	up := m.state == running
	m.mu.RUnlock()
	if !up {
		return nil, ipc.Errorf(ipc.CodeService, "the stream manager is not running (nucleus starting or stopping): retry in a moment")
	}
	if !ok {
		if err := checkName("streamName", name); err != nil {
			return nil, err
		}
		return nil, ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist: create it with CreateMessageStream (see ListStreams)", name)
	}
	return st, nil
}

// Create creates a stream. An existing stream of that name is an
// InvalidArgumentsError; use Update to change it.
func (m *Manager) Create(ctx context.Context, def ipc.MessageStreamDefinition) error {
	if e := m.create(ctx, def); e != nil {
		return e
	}
	return nil
}

func (m *Manager) create(ctx context.Context, def ipc.MessageStreamDefinition) *ipc.Error {
	def, e := normalize(def)
	if e != nil {
		return e
	}
	if e := m.checkExporters(def); e != nil {
		return e
	}
	m.admin.Lock()
	defer m.admin.Unlock()
	if e := m.checkRunning(); e != nil {
		return e
	}
	m.mu.RLock()
	_, exists := m.streams[def.Name]
	m.mu.RUnlock()
	if exists {
		return ipc.Errorf(ipc.CodeInvalidArguments, "stream %q already exists: use UpdateMessageStream to change it, or delete it first", def.Name)
	}
	cfg, err := jetStreamConfig(def)
	if err != nil {
		return m.internal("create", def.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := m.createStream(ctx, cfg); err != nil {
		return m.jetStreamError("create", def, err)
	}
	st, err := m.open(ctx, def, nil)
	if err != nil {
		// Leave no half-made stream behind: the caller may retry.
		if derr := m.js.DeleteStream(context.Background(), cfg.Name); derr != nil {
			m.log.Error("remove half-created stream", "stream", def.Name, "error", derr)
		}
		return m.internal("create", def.Name, err)
	}
	m.mu.Lock()
	m.streams[def.Name] = st
	m.mu.Unlock()
	m.log.Info("stream created", "stream", def.Name, "maxSize", def.MaxSize, "persistence", def.Persistence,
		"strategyOnFull", def.StrategyOnFull, "flushOnWrite", def.FlushOnWrite, "export", def.ExportDefinition != nil)
	return nil
}

// Update replaces an existing stream's definition. persistence cannot
// change (UpdateNotAllowedError). Lowering maxSize drops the oldest
// messages that no longer fit, whatever the strategy.
func (m *Manager) Update(ctx context.Context, def ipc.MessageStreamDefinition) error {
	if e := m.update(ctx, def); e != nil {
		return e
	}
	return nil
}

func (m *Manager) update(ctx context.Context, def ipc.MessageStreamDefinition) *ipc.Error {
	def, e := normalize(def)
	if e != nil {
		return e
	}
	if e := m.checkExporters(def); e != nil {
		return e
	}
	m.admin.Lock()
	defer m.admin.Unlock()
	if e := m.checkRunning(); e != nil {
		return e
	}
	prev, e := m.lookup(def.Name)
	if e != nil {
		return e
	}
	if prev.def.Persistence != def.Persistence {
		return ipc.Errorf(ipc.CodeUpdateNotAllowed, "stream %q: persistence cannot change from %s to %s: delete the stream and create it again", def.Name, prev.def.Persistence, def.Persistence)
	}
	cfg, err := jetStreamConfig(def)
	if err != nil {
		return m.internal("update", def.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := m.js.UpdateStream(ctx, cfg); err != nil {
		return m.jetStreamError("update", def, err)
	}
	st, err := m.open(ctx, def, prev)
	if err != nil {
		// JetStream has the new limits; serve them without the part that
		// failed to start, and say so.
		m.log.Error("stream updated but not fully started", "stream", def.Name, "error", err)
		return m.internal("update", def.Name, err)
	}
	m.mu.Lock()
	m.streams[def.Name] = st
	m.mu.Unlock()
	if prev.sync != nil && st.sync != prev.sync {
		prev.sync.close() // flushOnWrite turned off: the last group is still fsync'd
	}
	if prev.exporter != nil && st.exporter != prev.exporter {
		prev.exporter.Stop()
	}
	m.log.Info("stream updated", "stream", def.Name, "maxSize", def.MaxSize, "strategyOnFull", def.StrategyOnFull,
		"flushOnWrite", def.FlushOnWrite, "export", def.ExportDefinition != nil)
	return nil
}

// Delete deletes a stream and its messages; appends and reads in progress
// fail.
func (m *Manager) Delete(ctx context.Context, streamName string) error {
	if e := m.delete(ctx, streamName); e != nil {
		return e
	}
	return nil
}

func (m *Manager) delete(ctx context.Context, name string) *ipc.Error {
	m.admin.Lock()
	defer m.admin.Unlock()
	if e := m.checkRunning(); e != nil {
		return e
	}
	st, e := m.lookup(name)
	if e != nil {
		return e
	}
	m.mu.Lock()
	delete(m.streams, name)
	m.mu.Unlock()
	if st.exporter != nil {
		st.exporter.Stop()
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	err := m.js.DeleteStream(ctx, st.jsName)
	if st.sync != nil {
		st.sync.close()
	}
	st.notify.wake()
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return m.internal("delete", name, err)
	}
	if f := m.opts.ForgetExports; f != nil && st.exporter != nil {
		if err := f(ctx, st.jsName); err != nil {
			m.log.Warn("export progress of a deleted stream not removed", "stream", name, "error", err)
		}
	}
	m.log.Info("stream deleted", "stream", name)
	return nil
}

// Describe returns a stream's definition (defaults filled in), its storage
// status and its exporters' status.
func (m *Manager) Describe(ctx context.Context, streamName string) (ipc.MessageStreamInfo, error) {
	info, e := m.describe(ctx, streamName)
	if e != nil {
		return info, e
	}
	return info, nil
}

func (m *Manager) describe(ctx context.Context, name string) (ipc.MessageStreamInfo, *ipc.Error) {
	st, e := m.lookup(name)
	if e != nil {
		return ipc.MessageStreamInfo{}, e
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	s, err := m.js.Stream(ctx, st.jsName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ipc.MessageStreamInfo{}, ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist (deleted meanwhile)", name)
	}
	if err != nil {
		return ipc.MessageStreamInfo{}, m.internal("describe", name, err)
	}
	state := s.CachedInfo().State
	info := ipc.MessageStreamInfo{
		Definition: st.def,
		StorageStatus: ipc.StorageStatus{
			OldestSequenceNumber: int64(max(state.FirstSeq, 1)),
			NewestSequenceNumber: int64(state.LastSeq),
			TotalBytes:           int64(state.Bytes),
		},
	}
	if state.Msgs == 0 {
		info.StorageStatus.OldestSequenceNumber = int64(state.LastSeq) + 1
	}
	if st.exporter != nil {
		info.ExportStatuses = st.exporter.Status()
	}
	return info, nil
}

// List returns the names of all streams, sorted.
func (m *Manager) List(context.Context) ([]string, error) {
	m.mu.RLock()
	names := make([]string, 0, len(m.streams))
	for n := range m.streams {
		names = append(names, n)
	}
	m.mu.RUnlock()
	slices.Sort(names)
	return names, nil
}

func (m *Manager) checkRunning() *ipc.Error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.state != running {
		return ipc.Errorf(ipc.CodeService, "the stream manager is not running (nucleus starting or stopping): retry in a moment")
	}
	return nil
}

// internal logs an unexpected failure and returns the generic ServiceError
// (details stay in the nucleus log). Errors that already are *ipc.Error
// pass through.
func (m *Manager) internal(op, stream string, err error) *ipc.Error {
	var e *ipc.Error
	if errors.As(err, &e) {
		return e
	}
	m.log.Error("stream operation failed", "op", op, "stream", stream, "error", err)
	return ipc.Errorf(ipc.CodeService, "%s of stream %q failed in the nucleus: see the nucleus log (service=stream)", op, stream)
}

// JetStream API error codes the Manager acts on.
const (
	jsErrInsufficientResources = 10023
	jsErrMemoryResources       = 10028
	jsErrStorageResources      = 10047
	jsErrStreamNameInUse       = 10058
	jsErrStreamCreate          = 10049 // JSStreamCreateErrF: the store could not be made
)

// createStream creates the JetStream stream, retrying a store that could
// not be made. nats-server (v2.15 stream.go, stream.stop with deleteFlag)
// removes <store>/<account>/streams and <store>/<account> in a goroutine of
// its own after deleting a stream; when that was the account's last stream,
// a create right after it can find the folder gone between two of its
// mkdirs and fail with JSStreamCreateErrF ("could not create storage
// directory"). That goroutine runs once per delete, so a retry after it
// succeeds; a store that really cannot be made fails every attempt.
func (m *Manager) createStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	var err error
	for attempt := 1; ; attempt++ {
		if _, err = m.js.CreateStream(ctx, cfg); err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrStreamCreate || attempt == createAttempts {
			return err
		}
		m.log.Debug("stream store not made, retrying", "stream", cfg.Name, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * createRetryPause):
		}
	}
}

// createAttempts and createRetryPause bound createStream's retries: the
// racing cleanup is two os.Remove calls, done within milliseconds even on a
// loaded board; 5 attempts 10, 20, 30, 40 ms apart outlast it by far.
const (
	createAttempts   = 5
	createRetryPause = 10 * time.Millisecond
)

// jetStreamError maps a create or update failure onto a caller error.
func (m *Manager) jetStreamError(op string, def ipc.MessageStreamDefinition, err error) *ipc.Error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jsErrInsufficientResources, jsErrMemoryResources, jsErrStorageResources:
			where := "the broker's MaxStore (file streams)"
			if def.Persistence == ipc.PersistenceMemory {
				where = "the broker's MaxMemory (memory streams)"
			}
			// The store is out of room, not the request wrong: a
			// ServiceError, as Greengrass reports storage failures.
			return ipc.Errorf(ipc.CodeService,
				"stream %q: maxSize %d does not fit: JetStream reserves each stream's maxSize, and the streams together may not exceed %s; lower maxSize or delete another stream",
				def.Name, def.MaxSize, where)
		case jsErrStreamNameInUse:
			return ipc.Errorf(ipc.CodeInvalidArguments, "stream %q already exists in JetStream (as %s) but is not served, see the nucleus log: delete it and create it again", def.Name, JetStreamName(def.Name))
		}
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ipc.Errorf(ipc.CodeResourceNotFound, "stream %q does not exist in JetStream (deleted meanwhile)", def.Name)
	}
	return m.internal(op, def.Name, err)
}
