package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/internal/errdetail"
	"github.com/sward-iot/sward/edge/internal/kvbound"
)

const (
	// MaxBucketBytes bounds the configuration bucket. nats-server reserves
	// a bucket's bound in the store when it is created, so this room stays
	// the configuration's whatever other writers do; 32 MiB holds hundreds
	// of components' configuration with its history.
	MaxBucketBytes = 32 << 20

	// DefaultBucket is the JetStream KV bucket holding one key per component.
	// KV bucket names allow no dots, hence the underscore.
	DefaultBucket = "sward_config"

	// history is the number of revisions kept per component: 1. Rollback
	// does not read KV history, it restores a Snapshot the deployment engine
	// took and recorded itself, so older revisions would only cost disk on a
	// small board and give a second, implicit rollback path nobody tests.
	history = 1

	// MaxConfigSize bounds one component's encoded configuration: nats-server
	// refuses messages over its max_payload (1 MiB by default, which the
	// broker keeps), and a KV put also carries headers, so 4 KiB stay free
	// for them. Greengrass recipes are at most 16 KB; anything near this
	// limit belongs in an artifact.
	MaxConfigSize = 1<<20 - 4<<10

	// setupTimeout bounds creating or opening the bucket in New. The request
	// goes to the in-process server and answers in milliseconds; it only
	// runs out when JetStream is not enabled on the connection's account.
	setupTimeout = 10 * time.Second
)

// Options configures a Store.
type Options struct {
	// Bucket is the KV bucket name. Default DefaultBucket; tests and tools
	// may use another to keep stores apart.
	Bucket string

	// Logger receives the store's logs with service=config. Default
	// slog.Default().
	Logger *slog.Logger
}

// Store keeps every component's current configuration in a JetStream KV
// bucket, one key per component name, the value a JSON object. It is safe
// for concurrent use; writers coordinate through revisions (Put).
type Store struct {
	kv    jetstream.KeyValue
	log   *slog.Logger
	cache *cache

	// updateMu serialises Updates made through this Store, so concurrent
	// updates of one process do not spend their compare-and-set retries on
	// each other; the retries are left for writers elsewhere (deployments).
	updateMu sync.Mutex
}

// record is one KV entry: the configuration and the timestamps of its keys'
// last Update. It is stored as the configuration's JSON object, followed,
// when there are timestamps, by a newline and {"timestamps": [...]}: one
// entry, so a kill -9 never leaves them apart, and an entry written before
// timestamps were stored reads as a record without any.
type record struct {
	cfg    map[string]any
	stamps timestamps
}

// stampsTrailer is the second JSON document of a stored record.
type stampsTrailer struct {
	Timestamps []stamp `json:"timestamps"`
}

type stamp struct {
	Path []string `json:"path"`
	At   int64    `json:"at"`
}

// Snapshot is the configuration of a set of components at one moment, for
// the deployment engine's rollback. A nil configuration records that the
// component had none (it was new to the device), so Restore deletes it; an
// empty, non-nil one is an empty configuration. It survives a JSON round
// trip unchanged (nil as null, empty as {}), so the engine can keep it in
// its durable deployment record.
type Snapshot map[string]map[string]any

// New creates the KV bucket if it does not exist, or opens it (updating its
// settings to this package's if an older nucleus created it differently).
func New(js jetstream.JetStream, opts Options) (*Store, error) {
	if js == nil {
		return nil, errors.New("config: New needs a JetStream handle: pass jetstream.New(conn) of a broker connection")
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	kv, err := kvbound.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "Sward component configuration, one key per component (edge/config)",
		History:     history,
		MaxBytes:    MaxBucketBytes,
		Storage:     jetstream.FileStorage, // configuration must outlive the process
		Replicas:    1,                     // one nucleus, one server
	}, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("config: create or open KV bucket %q: %w (is JetStream enabled on the broker?)", opts.Bucket, err)
	}
	return &Store{kv: kv, log: opts.Logger.With("service", "config", "bucket", opts.Bucket), cache: newCache()}, nil
}

// Get returns the component's configuration and its revision, which Put
// takes to detect concurrent changes. ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, component string) (map[string]any, uint64, error) {
	rec, rev, err := s.getRecord(ctx, component)
	if err != nil {
		return nil, 0, err
	}
	return rec.cfg, rev, nil
}

// Put stores cfg as the component's configuration if the stored revision is
// still expectedRevision (0: the component must have no configuration), and
// returns the new revision. A lost race returns ErrConflict and changes
// nothing. A nil cfg is stored as an empty object. The timestamps of
// earlier Updates are kept. The write is durable once Put returns (see the
// package doc for what that means on power loss).
func (s *Store) Put(ctx context.Context, component string, cfg map[string]any, expectedRevision uint64) (uint64, error) {
	rec := record{cfg: cfg}
	if expectedRevision != 0 {
		cur, rev, err := s.getRecord(ctx, component)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		if rev == expectedRevision {
			rec.stamps = cur.stamps
		} // else the Update below fails with ErrConflict
	}
	return s.putRecord(ctx, component, rec, expectedRevision)
}

// putRecord is Put of a record with its timestamps.
func (s *Store) putRecord(ctx context.Context, component string, rec record, expectedRevision uint64) (uint64, error) {
	data, err := s.encode(component, rec)
	if err != nil {
		return 0, err
	}
	var rev uint64
	if expectedRevision == 0 {
		rev, err = s.kv.Create(ctx, component, data)
	} else {
		rev, err = s.kv.Update(ctx, component, data, expectedRevision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, &errdetail.Error{
			Msg: fmt.Sprintf("config: put %q at revision %d: the stored configuration changed meanwhile: get it again, re-apply the change and retry",
				component, expectedRevision),
			Sentinel: ErrConflict,
			Cause:    err,
		}
	}
	if err != nil {
		return 0, fmt.Errorf("config: put %q: %w", component, err)
	}
	s.log.Debug("configuration stored", "component", component, "revision", rev)
	return rev, nil
}

// Delete removes the component's configuration. Deleting one that does not
// exist is not an error, so a rollback can repeat it.
func (s *Store) Delete(ctx context.Context, component string) error {
	if err := checkName(component); err != nil {
		return err
	}
	if _, err := s.kv.Get(ctx, component); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // no delete marker for a key that never existed
	}
	if err := s.kv.Delete(ctx, component); err != nil {
		return fmt.Errorf("config: delete %q: %w", component, err)
	}
	s.log.Debug("configuration deleted", "component", component)
	return nil
}

// List returns the names of the components that have a configuration,
// sorted.
func (s *Store) List(ctx context.Context) ([]string, error) {
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: list components: %w", err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Snapshot records the configuration of each named component, nil for
// those that have none. A nil components list snapshots every stored
// component. For an exact rollback, name every component the deployment may
// touch, including the ones it adds: they are recorded as nil, and Restore
// deletes their configuration again.
func (s *Store) Snapshot(ctx context.Context, components []string) (Snapshot, error) {
	if components == nil {
		var err error
		if components, err = s.List(ctx); err != nil {
			return nil, err
		}
	}
	snap := make(Snapshot, len(components))
	for _, c := range components {
		cfg, _, err := s.Get(ctx, c)
		switch {
		case errors.Is(err, ErrNotFound):
			snap[c] = nil
		case err != nil:
			return nil, fmt.Errorf("config: snapshot: %w", err)
		default:
			snap[c] = cfg
		}
	}
	return snap, nil
}

// Restore puts back every configuration in snap and deletes those recorded
// as nil; components not in snap are left alone. Timestamps of Updates are
// kept for the components it puts back. It overwrites whatever is
// stored (no revision check): rollback wins over the deployment it undoes.
// Restore is idempotent, so an interrupted rollback is finished by running
// it again. Every name and value is checked before anything is written.
func (s *Store) Restore(ctx context.Context, snap Snapshot) error {
	names := make([]string, 0, len(snap))
	put := make(map[string]bool, len(snap))
	for c, cfg := range snap {
		names = append(names, c)
		if cfg == nil {
			if err := checkName(c); err != nil {
				return fmt.Errorf("config: restore: %w", err)
			}
			continue
		}
		if _, err := s.encode(c, record{cfg: cfg}); err != nil {
			return fmt.Errorf("config: restore: %w", err)
		}
		put[c] = true
	}
	slices.Sort(names) // a deterministic order makes logs of a partial restore readable
	for _, c := range names {
		if put[c] {
			if err := s.restoreOne(ctx, c, snap[c]); err != nil {
				return err
			}
			continue
		}
		if err := s.Delete(ctx, c); err != nil {
			return fmt.Errorf("config: restore: %w", err)
		}
	}
	s.log.Info("configuration restored", "components", len(names))
	return nil
}

// restoreOne overwrites the component's configuration with cfg, keeping
// its timestamps (a compare-and-set loop, so an Update meanwhile is not
// lost half-way: its values go, rollback wins, its timestamps stay).
func (s *Store) restoreOne(ctx context.Context, component string, cfg map[string]any) error {
	for range casRetries {
		cur, rev, err := s.getRecord(ctx, component)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("config: restore: %w", err)
		}
		newRev, err := s.putRecord(ctx, component, record{cfg: cfg, stamps: cur.stamps}, rev)
		if errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("config: restore: %w", err)
		}
		s.cache.put(component, cfg, newRev)
		return nil
	}
	return fmt.Errorf("config: restore %q: the configuration kept changing meanwhile: %w", component, ErrConflict)
}

// encode checks the name and turns rec into the stored JSON.
func (s *Store) encode(component string, rec record) ([]byte, error) {
	if err := checkName(component); err != nil {
		return nil, err
	}
	cfg := rec.cfg
	if cfg == nil {
		cfg = map[string]any{}
	}
	if err := validate(fmt.Sprintf("configuration of %q", component), "", cfg); err != nil {
		return nil, err
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, &errdetail.Error{
			Msg:      fmt.Sprintf("config: encode configuration of %q: %v", component, err),
			Sentinel: ErrInvalidValue,
			Cause:    err,
		}
	}
	if len(rec.stamps) > 0 {
		tr := stampsTrailer{Timestamps: make([]stamp, 0, len(rec.stamps))}
		for _, j := range slices.Sorted(maps.Keys(rec.stamps)) {
			path := []string{} // the root
			if j != "" {
				path = strings.Split(j, pathSep)
			}
			tr.Timestamps = append(tr.Timestamps, stamp{Path: path, At: rec.stamps[j]})
		}
		t, err := json.Marshal(tr)
		if err != nil {
			return nil, fmt.Errorf("config: encode timestamps of %q: %w", component, err)
		}
		data = append(append(data, '\n'), t...)
	}
	if len(data) > MaxConfigSize {
		return nil, &errdetail.Error{
			Msg: fmt.Sprintf("config: configuration of %q is %d bytes encoded, over the %d-byte limit: move large data into an artifact and keep its path in the configuration",
				component, len(data), MaxConfigSize),
			Sentinel: ErrTooLarge,
		}
	}
	return data, nil
}

// decode reads a stored record: the configuration object, then the
// timestamps document when there is one.
func decode(component string, data []byte) (record, error) {
	bad := func(what string, err error) (record, error) {
		return record{}, &errdetail.Error{
			Msg:      fmt.Sprintf("config: stored %s of %q is not valid (%v): it was not written by this package; delete it or put a valid configuration", what, component, err),
			Sentinel: ErrInvalidValue,
			Cause:    err,
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var rec record
	if err := dec.Decode(&rec.cfg); err != nil || rec.cfg == nil {
		if err == nil {
			err = errors.New("not a JSON object")
		}
		return bad("configuration", err)
	}
	var tr stampsTrailer
	if err := dec.Decode(&tr); errors.Is(err, io.EOF) {
		return rec, nil
	} else if err != nil {
		return bad("timestamps", err)
	}
	if dec.More() {
		return bad("record", errors.New("data after the timestamps"))
	}
	rec.stamps = make(timestamps, len(tr.Timestamps))
	for _, st := range tr.Timestamps {
		rec.stamps[strings.Join(st.Path, pathSep)] = st.At
	}
	return rec, nil
}

// checkName refuses names that cannot be KV keys, before the client does,
// so the error names the component and the rule.
func checkName(component string) error {
	if !validKey(component) {
		return &errdetail.Error{
			Msg: fmt.Sprintf("config: component name %q cannot be a configuration key: use letters, digits and \"-_.=/\", with no leading, trailing or double dot (e.g. \"com.example.Hello\")",
				component),
			Sentinel: ErrInvalidName,
		}
	}
	return nil
}

// validKey mirrors JetStream KV's key rule.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-/_=.", r):
		default:
			return false
		}
	}
	return true
}

// Change is one component's configuration after a write; Config is nil when
// the configuration was deleted.
type Change struct {
	Component string
	Config    map[string]any
	Revision  uint64
}

// Watch delivers every component's current configuration once, then every
// change, until ctx ends (the channel is then closed). Changes made through
// any Store on the same bucket are seen, in order per component. While a
// watch runs, Lookup is served from the cache it keeps.
func (s *Store) Watch(ctx context.Context) (<-chan Change, error) {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: watch: %w", err)
	}
	out := make(chan Change, 64)
	s.cache.watch(+1)
	go func() {
		defer close(out)
		defer s.cache.watch(-1)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue // end of the initial values
				}
				c := Change{Component: e.Key(), Revision: e.Revision()}
				if e.Operation() == jetstream.KeyValuePut {
					rec, err := decode(e.Key(), e.Value())
					if err != nil {
						s.log.Warn("unreadable configuration in watch", "component", e.Key(), "error", err)
						continue
					}
					c.Config = rec.cfg
				}
				s.cache.put(c.Component, c.Config, c.Revision)
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
