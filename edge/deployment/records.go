package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/internal/kvbound"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// Records live in one JetStream KV bucket, written before the engine acts
// on them: an acknowledged put is in JetStream's file store and survives
// kill -9 of the nucleus (see edge/broker for power loss).
const (
	// recordsMaxBytes bounds the deployment records bucket (its room is
	// reserved in the store at creation): a record is a few KiB, so 32 MiB
	// is thousands of deployments.
	recordsMaxBytes = 32 << 20

	// DefaultBucket is the KV bucket of deployment records.
	DefaultBucket = "sward_deployments"

	keyCurrent   = "current"
	keyActive    = "active"
	recordPrefix = "deployment."

	// historyLimit bounds the kept deployment records: enough to look back
	// over weeks of commits on a busy device, small enough that listing
	// them at start costs milliseconds.
	historyLimit = 100
)

// RecordsSubject is where JetStream publishes every change of a deployment
// record of bucket: what a service that follows deployments (fleet status)
// subscribes to. Each message is the record's JSON, whose "status" is a
// shared/deployment Status.
func RecordsSubject(bucket string) string { return "$KV." + bucket + "." + recordPrefix + ">" }

// Ended reads one message of RecordsSubject: the deployment's status and
// true when the record says the deployment has ended (a terminal state),
// false for a deployment still going, a delete or anything unreadable.
// A record is written more than once in a terminal state (its components'
// last states, its history bound), so a follower that acts once per
// deployment keeps the ids it has seen.
func Ended(data []byte) (ddoc.Status, bool) {
	var r struct {
		Status ddoc.Status `json:"status"`
	}
	if len(data) == 0 || json.Unmarshal(data, &r) != nil || !r.Status.State.Terminal() || r.Status.DeploymentID == "" {
		return ddoc.Status{}, false
	}
	return r.Status, true
}

// record is one deployment: what was asked and what became of it.
type record struct {
	Seq      uint64         `json:"seq"`
	Status   ddoc.Status    `json:"status"`
	Document *ddoc.Document `json:"document"`
	// ArtifactDir is where the deployment's artifacts are read from,
	// <dir>/<Name>/<Version>/<file>.
	ArtifactDir string `json:"artifactDir,omitempty"`
	// ChangedDefaults are the components ("name version") whose recipe
	// this deployment brought with a DefaultConfiguration other than the
	// one stored for the same version (see Engine.changedDefaults).
	ChangedDefaults []string `json:"changedDefaults,omitempty"`
}

// component is one resolved component of a set.
type component struct {
	Version string `json:"version"`
	// Revision changes when the component's configuration or installed
	// artifacts change, which restarts it (lifecycle.Component.Revision).
	Revision string `json:"revision,omitempty"`
	// RunAs is the runWith posixUser ("user[:group]") the component's steps
	// run as; it stays until a deployment changes it.
	RunAs string `json:"runAs,omitempty"`
	// Limits are the runWith systemResourceLimits the component's cgroup
	// enforces (lifecycle.Component.Limits); like RunAs, they stay until a
	// deployment gives others.
	Limits ddoc.SystemResourceLimits `json:"systemResourceLimits,omitzero"`
	// Trusted is the component's configuration as deployments alone made
	// it: the recipe's defaults with every deployment's reset and merge
	// applied, without what the component wrote over IPC
	// UpdateConfiguration. RequiresPrivilege and Timeout written as recipe
	// variables, and everything a privileged step runs, are resolved from
	// it (see trustedSteps and privilegedFromTrusted), so a component
	// cannot decide what runs as root. Records written before it existed
	// lack it; the recipe's defaults stand in then.
	Trusted map[string]any `json:"trustedConfig,omitempty"`
}

// set is what the device runs: each group's root components and the
// resolved components with their versions.
type set struct {
	DeploymentID string                       `json:"deploymentId,omitempty"`
	Groups       map[string]map[string]string `json:"groups"`
	Components   map[string]component         `json:"components"`
}

func emptySet() set {
	return set{Groups: map[string]map[string]string{}, Components: map[string]component{}}
}

// Stages of the active deployment, recorded before the engine acts.
const (
	stageApplying    = "APPLYING"
	stageRollingBack = "ROLLING_BACK"
)

// active is the deployment being applied: everything needed to finish it,
// or to undo it, after a crash.
type active struct {
	DeploymentID   string          `json:"deploymentId"`
	Stage          string          `json:"stage"`
	Previous       set             `json:"previous"`
	PreviousConfig config.Snapshot `json:"previousConfig"`
	Target         set             `json:"target"`
	TargetConfig   config.Snapshot `json:"targetConfig"`
	Reason         string          `json:"reason,omitempty"`
}

// records is the typed view of the bucket. The engine is the bucket's only
// writer, so deployment records are read once at open and then served from
// memory; every change is written through before it is visible.
type records struct {
	kv jetstream.KeyValue

	mu    sync.Mutex
	cache map[string]*record // by deployment id
}

func openRecords(ctx context.Context, js jetstream.JetStream, bucket string, log *slog.Logger) (*records, error) {
	kv, err := kvbound.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Sward deployment records",
		History:     1,
		MaxBytes:    recordsMaxBytes,
		Storage:     jetstream.FileStorage,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("deployment records bucket %s: %w", bucket, err)
	}
	r := &records{kv: kv, cache: map[string]*record{}}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *records) get(ctx context.Context, key string, v any) (bool, error) {
	e, err := r.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read deployment record %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("deployment record %s is corrupt (%v): delete it with `nats kv del %s %s` or reset the root folder", key, err, DefaultBucket, key)
	}
	return true, nil
}

func (r *records) put(ctx context.Context, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("write deployment record %s: %w", key, err)
	}
	return nil
}

func (r *records) del(ctx context.Context, key string) error {
	err := r.kv.Delete(ctx, key)
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete deployment record %s: %w", key, err)
	}
	return nil
}

func (r *records) putRecord(ctx context.Context, rec *record) error {
	if err := r.put(ctx, recordPrefix+rec.Status.DeploymentID, rec); err != nil {
		return err
	}
	c := *rec
	r.mu.Lock()
	r.cache[rec.Status.DeploymentID] = &c
	r.mu.Unlock()
	return nil
}

// load reads every deployment record into the cache.
func (r *records) load(ctx context.Context) error {
	keys, err := r.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list deployment records: %w", err)
	}
	for key := range keys.Keys() {
		if !strings.HasPrefix(key, recordPrefix) {
			continue
		}
		rec := &record{}
		ok, err := r.get(ctx, key, rec)
		if err != nil {
			return err
		}
		if ok {
			r.cache[rec.Status.DeploymentID] = rec
		}
	}
	return nil
}

// lookup returns a copy of one deployment's record.
func (r *records) lookup(id string) (*record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.cache[id]
	if !ok {
		return nil, false
	}
	c := *rec
	return &c, true
}

// all returns copies of every deployment record, oldest first.
func (r *records) all(context.Context) ([]*record, error) {
	r.mu.Lock()
	out := make([]*record, 0, len(r.cache))
	for _, rec := range r.cache {
		c := *rec
		out = append(out, &c)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// trim deletes the oldest terminal records beyond historyLimit.
func (r *records) trim(ctx context.Context, all []*record) error {
	excess := len(all) - historyLimit
	for _, rec := range all {
		if excess <= 0 {
			break
		}
		if !rec.Status.State.Terminal() {
			continue
		}
		if err := r.del(ctx, recordPrefix+rec.Status.DeploymentID); err != nil {
			return err
		}
		r.mu.Lock()
		delete(r.cache, rec.Status.DeploymentID)
		r.mu.Unlock()
		excess--
	}
	return nil
}
