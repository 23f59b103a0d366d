package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/internal/errdetail"
	"github.com/sward-iot/sward/shared/recipe"
)

// Bounds on what one Update may write, so one component cannot make the
// nucleus spend memory or time for everyone: configurations are at most
// MaxDepth deep (the limit recipes and deployments share), an update
// touches at most maxUpdateLeaves keys, and the timestamps of a component
// stop growing at maxTimestamps keys.
const (
	MaxDepth        = recipe.MaxConfigDepth
	maxUpdateLeaves = 1024
	maxTimestamps   = 4096
)

// casRetries bounds Update's read-merge-write loop against a deployment
// writing the same component at the same moment: one retry is almost always
// enough, five means something keeps rewriting it.
const casRetries = 5

// ErrStale is returned by Update when a key it touches (or one above or
// below it) was last updated with a later timestamp: Greengrass's
// FailedUpdateConditionCheck.
var ErrStale = errors.New("configuration update older than the stored one")

// Lookup returns the value at keyPath of the component's configuration
// (the whole configuration for an empty keyPath). While a Watch of this
// Store runs it is served from the cache the watch keeps, otherwise from
// KV. ErrNotFound when the component has no configuration or keyPath is not
// in it. The value is shared with the cache: do not change it.
func (s *Store) Lookup(ctx context.Context, component string, keyPath []string) (any, error) {
	cfg, ok := s.cache.get(component)
	if !ok {
		var err error
		if cfg, _, err = s.Get(ctx, component); errors.Is(err, ErrNotFound) {
			return nil, errdetail.New(ErrNotFound, "component %s has no configuration on this device", component)
		} else if err != nil {
			return nil, err
		}
	}
	var node any = cfg
	for i, k := range keyPath {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, errdetail.New(ErrNotFound, "key path %s of component %s: %s is not an object", strings.Join(keyPath, "/"), component, strings.Join(keyPath[:i], "/"))
		}
		if node, ok = m[k]; !ok {
			return nil, errdetail.New(ErrNotFound, "key path %s is not in component %s's configuration", strings.Join(keyPath[:i+1], "/"), component)
		}
	}
	return node, nil
}

// Update merges value at keyPath of the component's configuration, as
// Greengrass's UpdateConfiguration does: unless a key it touches, or one
// above or below it, was last updated with a later timestamp (ErrStale; an
// equal timestamp wins). timestamp is epoch milliseconds, 0 meaning now.
// The timestamps are stored in the same KV entry as the configuration, so
// they survive a restart and are never written apart from the values.
// Bad input returns ErrInvalidValue or ErrBadPointer naming the problem.
func (s *Store) Update(ctx context.Context, component string, keyPath []string, value map[string]any, timestamp int64) error {
	if value == nil {
		return errdetail.New(ErrInvalidValue, "valueToMerge must be a JSON object of the keys to merge at keyPath, e.g. {\"threshold\": 3}")
	}
	for _, k := range keyPath {
		if k == "" {
			return errdetail.New(ErrBadPointer, "keyPath has an empty key; give the keys from the root, e.g. [\"limits\", \"max\"]")
		}
	}
	if d := len(keyPath) + recipe.ConfigDepth(value); d > MaxDepth {
		return errdetail.New(ErrInvalidValue, "the update reaches %d levels deep; configurations are at most %d deep", d, MaxDepth)
	}
	leaves := leafPaths(keyPath, value)
	if len(leaves) > maxUpdateLeaves {
		return errdetail.New(ErrInvalidValue, "the update sets %d keys; send at most %d per update", len(leaves), maxUpdateLeaves)
	}
	if timestamp == 0 {
		timestamp = time.Now().UnixMilli()
	}
	merge := value
	for i := len(keyPath) - 1; i >= 0; i-- {
		merge = map[string]any{keyPath[i]: merge}
	}
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	for range casRetries {
		rec, rev, err := s.getRecord(ctx, component)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if p, later, ok := rec.stamps.newer(leaves, timestamp); ok {
			return errdetail.New(ErrStale, "key %s of component %s was updated at %d, after this update's timestamp %d", strings.Join(p, "/"), component, later, timestamp)
		}
		next, err := Apply(rec.cfg, nil, nil, merge)
		if err != nil {
			return err
		}
		rec.cfg = next
		rec.stamps = rec.stamps.set(leaves, timestamp)
		newRev, err := s.putRecord(ctx, component, rec, rev)
		if errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		s.cache.put(component, next, newRev) // read-your-writes before the watch catches up
		return nil
	}
	return errdetail.New(ErrConflict, "component %s's configuration kept changing during the update; retry", component)
}

// ChangedPaths lists the paths at which two configurations differ, down
// to the leaves (a removed key is listed where it was), sorted; nil is an
// empty configuration.
func ChangedPaths(before, after map[string]any) [][]string {
	return diffPaths(nil, before, after)
}

// diffPaths lists the paths at which a and b differ, down to the leaves.
func diffPaths(prefix []string, a, b any) [][]string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if reflect.DeepEqual(a, b) {
			return nil
		}
		return leafPaths(prefix, b)
	}
	var out [][]string
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		p := append(slices.Clone(prefix), k)
		av, ain := am[k]
		bv, bin := bm[k]
		switch {
		case !bin:
			out = append(out, p) // removed
		case !ain:
			out = append(out, leafPaths(p, bv)...)
		default:
			out = append(out, diffPaths(p, av, bv)...)
		}
	}
	return out
}

// leafPaths lists the paths of every leaf of v below prefix (an empty
// object is a leaf: merging it still touches that key).
func leafPaths(prefix []string, v any) [][]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return [][]string{slices.Clone(prefix)}
	}
	var out [][]string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, leafPaths(append(slices.Clone(prefix), k), m[k])...)
	}
	return out
}

// timestamps holds the timestamp (epoch ms) of the last Update of each key
// of one component, by path joined with pathSep.
type timestamps map[string]int64

const pathSep = "\x00"

// newer finds a key on, above or below one of paths updated after ts.
func (t timestamps) newer(paths [][]string, ts int64) ([]string, int64, bool) {
	for _, stored := range slices.Sorted(maps.Keys(t)) {
		at := t[stored]
		if at <= ts {
			continue
		}
		for _, p := range paths {
			j := strings.Join(p, pathSep)
			if j == stored || strings.HasPrefix(j, stored+pathSep) || strings.HasPrefix(stored, j+pathSep) || j == "" {
				return strings.Split(stored, pathSep), at, true
			}
		}
	}
	return nil, 0, false
}

// set records ts for paths and returns the (possibly new) map.
func (t timestamps) set(paths [][]string, ts int64) timestamps {
	if t == nil || len(t) > maxTimestamps {
		// Past the bound the history restarts: older updates of the keys
		// it held may win once, never more memory or disk.
		t = timestamps{}
	}
	for _, p := range paths {
		j := strings.Join(p, pathSep)
		for stored := range t {
			if strings.HasPrefix(stored, j+pathSep) {
				delete(t, stored) // replaced by the value set at j
			}
		}
		t[j] = ts
	}
	return t
}

// cache holds every component's configuration as a Watch of this Store
// last delivered it (or a write of this Store made it), so Lookup is a map
// lookup instead of a JetStream request. It serves only while a watch
// runs: without one it cannot see other writers. A revision never goes back.
type cache struct {
	mu       sync.RWMutex
	watching int
	cfg      map[string]cachedConfig
}

type cachedConfig struct {
	cfg map[string]any
	rev uint64
}

func newCache() *cache { return &cache{cfg: map[string]cachedConfig{}} }

func (c *cache) get(component string) (map[string]any, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.cfg[component]
	return e.cfg, c.watching > 0 && ok && e.cfg != nil
}

// put records cfg at rev (nil: deleted) unless a later revision is known
// or no watch runs (an entry nothing keeps current could be served stale
// once a watch starts).
func (c *cache) put(component string, cfg map[string]any, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watching == 0 {
		return
	}
	if e, ok := c.cfg[component]; ok && e.rev > rev {
		return
	}
	c.cfg[component] = cachedConfig{cfg: cfg, rev: rev}
}

// watch counts a running Watch (delta +1 or -1); the last one to end
// empties the cache, which nothing keeps current any more.
func (c *cache) watch(delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watching += delta
	if c.watching == 0 {
		clear(c.cfg)
	}
}

// getRecord reads the component's configuration with its timestamps.
func (s *Store) getRecord(ctx context.Context, component string) (record, uint64, error) {
	if err := checkName(component); err != nil {
		return record{}, 0, err
	}
	e, err := s.kv.Get(ctx, component)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, &errdetail.Error{
			Msg:      fmt.Sprintf("config: component %q has no stored configuration", component),
			Sentinel: ErrNotFound,
		}
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("config: get %q: %w", component, err)
	}
	rec, err := decode(component, e.Value())
	return rec, e.Revision(), err
}
