package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sward-iot/sward/edge/config"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/recipe"
)

// Bounds on what a component may write or watch, so one component cannot
// make the nucleus spend memory or time for everyone: configurations are
// at most MaxConfigDepth deep (the limit recipes and deployments share), an
// update touches at most maxUpdateLeaves keys, and the timestamps of a
// component stop growing at maxTimestamps keys.
const (
	MaxConfigDepth  = recipe.MaxConfigDepth
	maxUpdateLeaves = 1024
	maxTimestamps   = 4096
)

// casRetries bounds UpdateConfiguration's read-merge-write loop against a
// deployment writing the same component at the same moment: one retry is
// almost always enough, five means something keeps rewriting it.
const casRetries = 5

// getConfiguration answers GetConfiguration. Like Greengrass, a component
// may read any component's configuration; it writes only its own.
func (s *Server) getConfiguration(ctx context.Context, caller string, body []byte) (any, error) {
	var req wire.GetConfigurationRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.KeyPath) > MaxConfigDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has %d keys; configurations are at most %d deep", len(req.KeyPath), MaxConfigDepth)
	}
	name := req.ComponentName
	if name == "" {
		name = caller
	}
	cfg, ok := s.cache.get(name)
	if !ok {
		var err error
		cfg, _, err = s.opts.Config.Get(ctx, name)
		if errors.Is(err, config.ErrNotFound) {
			return nil, wire.Errorf(wire.CodeResourceNotFound, "component %s has no configuration on this device", name)
		} else if err != nil {
			return nil, err
		}
	}
	var node any = cfg
	for i, k := range req.KeyPath {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, wire.Errorf(wire.CodeResourceNotFound, "key path %s of component %s: %s is not an object", strings.Join(req.KeyPath, "/"), name, strings.Join(req.KeyPath[:i], "/"))
		}
		if node, ok = m[k]; !ok {
			return nil, wire.Errorf(wire.CodeResourceNotFound, "key path %s is not in component %s's configuration", strings.Join(req.KeyPath[:i+1], "/"), name)
		}
	}
	resp := wire.GetConfigurationResponse{ComponentName: name}
	if m, ok := node.(map[string]any); ok {
		resp.Value = m
	} else {
		// A leaf comes back as {"<last key>": value}, as Greengrass does.
		resp.Value = map[string]any{req.KeyPath[len(req.KeyPath)-1]: node}
	}
	return resp, nil
}

// updateConfiguration answers UpdateConfiguration: valueToMerge is merged
// at keyPath of the caller's own configuration, unless a key it touches was
// last updated with a later timestamp.
func (s *Server) updateConfiguration(ctx context.Context, caller string, body []byte) (any, error) {
	var req wire.UpdateConfigurationRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	var val map[string]any
	if err := json.Unmarshal(req.ValueToMerge, &val); err != nil || val == nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "valueToMerge must be a JSON object of the keys to merge at keyPath, e.g. {\"threshold\": 3}")
	}
	_, touchesACL := val[ConfigKeyAccessControl]
	if (len(req.KeyPath) > 0 && req.KeyPath[0] == ConfigKeyAccessControl) || (len(req.KeyPath) == 0 && touchesACL) {
		s.log.Warn("ipc request denied", "component", caller, "operation", wire.OpUpdateConfiguration, "resource", ConfigKeyAccessControl)
		return nil, wire.Errorf(wire.CodeUnauthorized, "component %s may not change its own accessControl; change it with a deployment", caller)
	}
	for _, k := range req.KeyPath {
		if k == "" {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has an empty key; give the keys from the root, e.g. [\"limits\", \"max\"]")
		}
	}
	if d := len(req.KeyPath) + recipe.ConfigDepth(val); d > MaxConfigDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "the update reaches %d levels deep; configurations are at most %d deep", d, MaxConfigDepth)
	}
	ts := req.Timestamp
	if ts == 0 {
		ts = time.Now().UnixMilli()
	}
	merge := map[string]any{}
	inner := merge
	for i, k := range req.KeyPath {
		if i == len(req.KeyPath)-1 {
			inner[k] = val
			break
		}
		next := map[string]any{}
		inner[k] = next
		inner = next
	}
	if len(req.KeyPath) == 0 {
		merge = val
	}
	leaves := leafPaths(req.KeyPath, val)
	if len(leaves) > maxUpdateLeaves {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "the update sets %d keys; send at most %d per update", len(leaves), maxUpdateLeaves)
	}

	s.cfg.mu.Lock()
	defer s.cfg.mu.Unlock()
	if p, later, ok := s.cfg.newer(caller, leaves, ts); ok {
		return nil, wire.Errorf(wire.CodeFailedUpdateConditionCheck, "key %s of component %s was updated at %d, after this update's timestamp %d", strings.Join(p, "/"), caller, later, ts)
	}
	for range casRetries {
		cur, rev, err := s.opts.Config.Get(ctx, caller)
		if err != nil && !errors.Is(err, config.ErrNotFound) {
			return nil, err
		}
		next, err := config.Apply(cur, nil, nil, merge)
		if err != nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err)
		}
		newRev, err := s.opts.Config.Put(ctx, caller, next, rev)
		if errors.Is(err, config.ErrConflict) {
			continue
		} else if err != nil {
			return nil, err
		}
		s.cache.put(caller, next, newRev) // read-your-writes before the watch catches up
		s.cfg.set(caller, leaves, ts)
		return struct{}{}, nil
	}
	return nil, wire.Errorf(wire.CodeService, "component %s's configuration kept changing during the update; retry", caller)
}

// depth is how many object levels v has (a leaf: 0).
// leafPaths lists the paths of every leaf of v below prefix (an empty
// object is a leaf: merging it still touches that key).
func leafPaths(prefix []string, v any) [][]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return [][]string{append([]string(nil), prefix...)}
	}
	var out [][]string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, leafPaths(append(append([]string(nil), prefix...), k), m[k])...)
	}
	return out
}

// configCache holds every component's configuration as the KV watch last
// delivered it (or a write of this server made it), so GetConfiguration is a
// map lookup instead of a JetStream request. A revision never goes back.
type configCache struct {
	mu  sync.RWMutex
	cfg map[string]cachedConfig
}

type cachedConfig struct {
	cfg map[string]any
	rev uint64
}

func newConfigCache() *configCache { return &configCache{cfg: map[string]cachedConfig{}} }

func (c *configCache) get(component string) (map[string]any, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.cfg[component]
	return e.cfg, ok && e.cfg != nil
}

// put records cfg at rev (nil: deleted) unless a later revision is known.
func (c *configCache) put(component string, cfg map[string]any, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cfg[component]; ok && e.rev > rev {
		return
	}
	c.cfg[component] = cachedConfig{cfg: cfg, rev: rev}
}

// configTimestamps remembers the timestamp of the last UpdateConfiguration
// of each key. They live in memory: after a nucleus restart the first
// update of a key wins whatever its timestamp (docs/ipc.md).
type configTimestamps struct {
	mu sync.Mutex
	ts map[string]map[string]int64 // component → joined path → epoch ms
}

func newConfigTimestamps() *configTimestamps {
	return &configTimestamps{ts: map[string]map[string]int64{}}
}

const pathSep = "\x00"

// newer finds a key on, above or below one of paths updated after ts.
func (c *configTimestamps) newer(component string, paths [][]string, ts int64) ([]string, int64, bool) {
	for stored, at := range c.ts[component] {
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

func (c *configTimestamps) set(component string, paths [][]string, ts int64) {
	m := c.ts[component]
	if m == nil || len(m) > maxTimestamps {
		// Past the bound the history restarts: older updates of the keys
		// it held may win once, never more memory.
		m = map[string]int64{}
		c.ts[component] = m
	}
	for _, p := range paths {
		j := strings.Join(p, pathSep)
		for stored := range m {
			if strings.HasPrefix(stored, j+pathSep) {
				delete(m, stored) // replaced by the value set at j
			}
		}
		m[j] = ts
	}
}
