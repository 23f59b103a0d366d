package shadow

import (
	shadowdoc "github.com/sward-iot/sward/shared/shadow"

	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// What the cloud sync (edge/shadowsync) uses: it reads and writes shadows
// as any caller does, with AWS's version checks, but its writes do not
// count against the thing's request rate (a burst of cloud changes
// applied after an outage must not be throttled, nor throttle the
// components), and it follows every change through the bucket.

// Snapshot is a shadow as the sync reads it: whether it exists, its
// version (a deleted shadow's last one) and its state sections (nil when
// empty; numbers as json.Number).
type Snapshot struct {
	Exists            bool
	Version           int64
	Desired, Reported map[string]any
}

// Snapshot reads a shadow. A shadow that never existed is
// {Exists: false, Version: 0}.
func (s *Service) Snapshot(ctx context.Context, thing, name string) (Snapshot, error) {
	if e := s.admit(thing, name, false); e != nil {
		return Snapshot{}, e
	}
	rec, _, _, e := s.load(ctx, key(thing, name))
	if e != nil {
		return Snapshot{}, e
	}
	if rec == nil {
		return Snapshot{}, nil
	}
	return Snapshot{Exists: rec.Exists(), Version: rec.Version, Desired: rec.State.Desired, Reported: rec.State.Reported}, nil
}

// SyncUpdate applies an update request document as Update does (it
// publishes /update/accepted, /update/delta and /update/documents, so
// components see a cloud change as they see any other) without counting
// against the thing's rate, and returns the shadow's new version. A
// "version" in doc makes it conditional: 409 when the shadow moved on.
func (s *Service) SyncUpdate(ctx context.Context, thing, name string, doc []byte) (int64, error) {
	out, _, e := s.update(ctx, thing, name, doc, false)
	if e != nil {
		return 0, e
	}
	var acc struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(out, &acc); err != nil {
		return 0, fmt.Errorf("shadow: read back /update/accepted: %w", err)
	}
	return acc.Version, nil
}

// SyncDelete deletes the shadow if it is still at version (409 when it
// moved on, 404 when it is gone), as Delete does but outside the rate.
func (s *Service) SyncDelete(ctx context.Context, thing, name string, version int64) error {
	req, e := shadowdoc.ParseRequest(fmt.Appendf(nil, `{"version":%d}`, version))
	if e != nil {
		return e
	}
	_, e = s.delete(ctx, thing, name, req, false)
	return asError(e)
}

// Watch calls changed with the thing and shadow name ("" for classic) of
// every shadow written or deleted from now on, by this service or any
// other on the bucket, until ctx ends. changed runs on one goroutine, in
// the order of the writes, and must not block. Watch returns once the
// watch is set up; done is closed when its goroutine has ended.
func (s *Service) Watch(ctx context.Context, changed func(thing, name string)) (done <-chan struct{}, err error) {
	if !s.ready.Load() {
		return nil, fmt.Errorf("shadow: Watch before Start: start the shadow service first")
	}
	w, err := s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("shadow: watch bucket %s: %w", s.opts.Bucket, err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case ent, ok := <-w.Updates():
				if !ok {
					return
				}
				if ent == nil {
					continue
				}
				if thing, name, ok := parseKey(ent.Key()); ok {
					changed(thing, name)
				}
			}
		}
	}()
	return ended, nil
}

// Key is the shadow's key in the bucket: the sync service keys its own
// records the same way.
func Key(thing, name string) string { return key(thing, name) }

// parseKey reverses key.
func parseKey(k string) (thing, name string, ok bool) {
	t := strings.Split(k, ".")
	switch {
	case len(t) == 2 && t[1] == "c":
		return unescape(t[0]), "", true
	case len(t) == 3 && t[1] == "n":
		return unescape(t[0]), unescape(t[2]), true
	}
	return "", "", false
}
