package deployment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/store"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// DefaultTimeout bounds how long a deployment waits for its components to
// settle: it covers Greengrass's default Install and Startup timeouts
// (120 s each) of a slow component plus restarts; a BROKEN component ends
// the wait at once.
const DefaultTimeout = 5 * time.Minute

// DefaultStableFor is how long a deployment's components must stay RUNNING
// or FINISHED before it succeeds: a component that exits within half a
// second of starting fails its deployment instead of passing it, and half a
// second is all it adds to a deployment.
const DefaultStableFor = 500 * time.Millisecond

// Options configures an Engine. Every field but Logger, Env and Timeout is
// required.
type Options struct {
	JetStream  jetstream.JetStream
	Bucket     string // default DefaultBucket
	Store      *store.Store
	Config     *config.Store
	Supervisor *lifecycle.Supervisor
	Platform   recipe.Platform
	// WorkDir is the supervisor's work folder root ({work:path} is WorkDir/<name>).
	WorkDir    string
	KernelRoot string
	ThingName  string
	// InterpolateComponentConfiguration expands recipe variables such as
	// {iot:thingName}, {kernel:rootPath}, {work:path} and {artifacts:path}
	// (and {Dep:artifacts:path} for direct dependencies) in the string values
	// of every configuration a deployment computes, before it is stored;
	// {configuration:…} variables stay as written. Greengrass's nucleus
	// option of the same name, off by default there too.
	InterpolateComponentConfiguration bool
	// Env returns the environment a component's steps get from the nucleus.
	Env     func(r *recipe.Recipe) map[string]string
	Timeout time.Duration
	// StableFor is how long the settled set must hold (DefaultStableFor).
	StableFor time.Duration
	Logger    *slog.Logger

	// Participants, when set, lets components take part in deployments
	// (see Participants).
	Participants Participants
	// CheckConfig checks the configuration a deployment gives a component
	// (a new one, or a changed one) for what the nucleus reads from it
	// itself (accessControl); an error fails the deployment before
	// anything changes.
	CheckConfig func(component string, cfg map[string]any) error
	// Identities, when set, sees every set before it is applied (see
	// Identities).
	Identities Identities
	// Builtin, when set, names the components the nucleus provides itself
	// (aws.greengrass.TokenExchangeService): a dependency on one needs no
	// recipe and runs nothing (see Resolve).
	Builtin Builtin
}

// Participants is how components take part in deployments (edge/events'
// Registry serves it, from what they subscribed to over the IPC).
type Participants interface {
	// Validate sends the new configuration of each component whose
	// configuration changes to those that subscribed to validation, and
	// waits up to timeout for their reports; an error (a rejection) fails
	// the deployment before anything changes.
	Validate(ctx context.Context, deploymentID string, changed map[string]map[string]any, timeout time.Duration) error
	// Notify tells components that subscribed to component updates that a
	// deployment is about to change the device, and waits while they defer
	// it, up to timeout. Only for componentUpdatePolicy NOTIFY_COMPONENTS.
	Notify(ctx context.Context, deploymentID string, timeout time.Duration)
	// Updated reports a deployment that changed the device (after it
	// settled, succeeded or not).
	Updated(deploymentID string)
}

// Identities is what the engine needs from whoever gives components their
// identities (edge/authz's Registry): Set receives the configuration of every
// component of a set right before the set goes to the supervisor
// (deployments, rollbacks, the start-up set); an error stops that set from
// being applied.
type Identities interface {
	Set(configs map[string]map[string]any) error
}

// Request is one deployment to queue.
type Request struct {
	Document *ddoc.Document
	// RecipeDir holds recipes of the deployment's components; they are
	// copied into the component store when the deployment is queued.
	RecipeDir string
	// ArtifactDir holds their artifacts as <dir>/<Name>/<Version>/<file>.
	ArtifactDir string
	// WholeRecipeDir makes the document's components every component in
	// RecipeDir at its highest version (folder and git deployments).
	WholeRecipeDir bool
	// CommitID records the git commit a deployment came from.
	CommitID string
	// JobID records the IoT job a cloud deployment came from.
	JobID string
}

// ErrUnknownDeployment is returned for a deployment id with no record.
var ErrUnknownDeployment = errors.New("unknown deployment")

// ErrNotOnDevice fails a LOCAL deployment that changes only the
// configuration of a component the device does not run.
var ErrNotOnDevice = errors.New("component not on the device")

// Engine queues deployments and applies them one at a time.
type Engine struct {
	opts Options
	log  *slog.Logger
	rec  *records

	catMu sync.Mutex
	cat   Catalog // nil until first read; see catalog

	mu      sync.Mutex
	seq     uint64
	current set
	changed chan struct{} // closed and replaced whenever a record changes
	applied map[string]bool
	wake    chan struct{}
	// canceled holds the reason of each deployment Cancel was asked to
	// stop while it runs; applying cancels the settle of the one being
	// applied.
	canceled map[string]string
	applying struct {
		id     string
		cancel context.CancelCauseFunc
	}
	ctx      context.Context
	cancel   context.CancelFunc
	finished chan struct{}
}

// New checks opts and opens the records bucket. It starts nothing.
func New(opts Options) (*Engine, error) {
	var missing []string
	for name, ok := range map[string]bool{"JetStream": opts.JetStream != nil, "Store": opts.Store != nil,
		"Config": opts.Config != nil, "Supervisor": opts.Supervisor != nil, "Platform": opts.Platform != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("deployment engine: Options lack %v", missing)
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.StableFor <= 0 {
		opts.StableFor = DefaultStableFor
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec, err := openRecords(ctx, opts.JetStream, opts.Bucket, opts.Logger.With("service", "deployment"))
	if err != nil {
		cancel()
		return nil, err
	}
	return &Engine{
		opts: opts, log: opts.Logger.With("service", "deployment"), rec: rec,
		current: emptySet(), changed: make(chan struct{}), applied: map[string]bool{}, canceled: map[string]string{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, finished: make(chan struct{}),
	}, nil
}

// Start recovers from whatever the previous nucleus left: it requeues a
// deployment that had not changed anything yet, and either hands the last
// good set to the supervisor or, in the background, finishes (or rolls
// back) an interrupted deployment before any queued one runs. Then queued
// deployments run one at a time.
func (e *Engine) Start() error {
	ctx := e.ctx
	all, err := e.rec.all(ctx)
	if err != nil {
		return err
	}
	for _, r := range all {
		e.seq = max(e.seq, r.Seq)
	}
	if _, err := e.rec.get(ctx, keyCurrent, &e.current); err != nil {
		return err
	}
	if e.current.Groups == nil || e.current.Components == nil {
		e.current = emptySet()
	}
	var act active
	hasActive, err := e.rec.get(ctx, keyActive, &act)
	if err != nil {
		return err
	}
	byID := map[string]*record{}
	for _, r := range all {
		byID[r.Status.DeploymentID] = r
	}
	isActive := func(id string) bool { return hasActive && act.DeploymentID == id }
	for _, r := range all {
		if r.Status.State != ddoc.InProgress || isActive(r.Status.DeploymentID) {
			continue
		}
		if by := r.Status.CarriedBy; by != "" {
			if isActive(by) {
				continue // it ends with the deployment that carries it
			}
			if carrier := byID[by]; carrier != nil && carrier.Status.State.Terminal() {
				// The carrier ended; the nucleus stopped before this one
				// was told.
				carried(r, carrier.Status)
				if err := e.rec.putRecord(ctx, r); err != nil {
					return err
				}
				continue
			}
		}
		// It stopped before recording a target: nothing changed, run it
		// again (LOCAL changes are batched again, in the same order).
		r.Status.State = ddoc.Queued
		r.Status.Reason = "requeued: the nucleus stopped before the deployment changed anything"
		r.Status.Carries, r.Status.CarriedBy, r.Status.Warnings = nil, "", nil
		if err := e.rec.putRecord(ctx, r); err != nil {
			return err
		}
	}
	var recover func()
	if hasActive {
		r := byID[act.DeploymentID]
		if r == nil {
			r = &record{Status: ddoc.Status{DeploymentID: act.DeploymentID, State: ddoc.InProgress}, Document: ddoc.New(ddoc.LocalGroup)}
		}
		e.log.Info("resuming an interrupted deployment", "deployment", act.DeploymentID, "stage", act.Stage)
		recover = func() {
			if act.Stage == stageRollingBack {
				e.rollback(r, &act, act.Reason)
			} else {
				e.applyTarget(r, &act)
			}
		}
	} else if err := e.runCurrent(ctx); err != nil {
		e.log.Error("cannot run the last good set", "error", err)
	}
	go e.loop(recover)
	return nil
}

// runCurrent hands the last good set to the supervisor.
func (e *Engine) runCurrent(ctx context.Context) error {
	if len(e.current.Components) == 0 {
		return nil
	}
	return e.supervise(ctx, e.current, nil)
}

// Close stops taking deployments and waits for the one in progress to stop
// waiting. Components keep running; the supervisor owns them.
func (e *Engine) Close() {
	e.cancel()
	<-e.finished
}

// Submit validates and queues a deployment, copying its recipes into the
// component store, and returns its queued status. A whole-group document
// supersedes a queued deployment to the same group, since it holds all of
// that one's components; a LOCAL document is a change and supersedes
// nothing (queued LOCAL changes are applied together, see nextBatch).
// Recipes that do not load refuse the deployment: it is recorded as FAILED
// and the error returned.
func (e *Engine) Submit(req Request) (ddoc.Status, error) {
	if req.Document == nil {
		return ddoc.Status{}, errors.New("deployment request has no document")
	}
	doc := *req.Document
	if err := doc.Validate(); err != nil {
		return ddoc.Status{}, err
	}
	var refused error
	var changedDefaults []string
	if req.RecipeDir != "" {
		recipes, err := recipe.LoadDir(req.RecipeDir)
		if err != nil {
			refused = fmt.Errorf("recipes in %s: %w", req.RecipeDir, err)
		}
		if refused == nil {
			changedDefaults = e.changedDefaults(recipes)
		}
		for _, r := range recipes {
			if refused != nil {
				break
			}
			if refused = e.opts.Store.SaveRecipe(r); refused == nil {
				e.cataloged(r)
			}
		}
		if refused == nil && req.WholeRecipeDir {
			doc.Components = map[string]ddoc.Component{}
			for name, r := range latest(recipes) {
				doc.Components[name] = ddoc.Component{Version: r.Version}
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if doc.DeploymentID == "" {
		doc.DeploymentID = newID()
	}
	if _, ok := e.rec.lookup(doc.DeploymentID); ok {
		return ddoc.Status{}, fmt.Errorf("deployment %s already exists: leave deploymentId empty to get a new one", doc.DeploymentID)
	}
	all, err := e.rec.all(e.ctx)
	if err != nil {
		return ddoc.Status{}, err
	}
	now := time.Now().UTC()
	for _, old := range all {
		if refused == nil && !doc.Local() && old.Status.State == ddoc.Queued && old.Status.Group == doc.GroupName {
			old.Status.State = ddoc.Superseded
			old.Status.Reason = "superseded by deployment " + doc.DeploymentID + " to the same group"
			old.Status.EndedAt = now
			if err := e.rec.putRecord(e.ctx, old); err != nil {
				return ddoc.Status{}, err
			}
			// The newer document deploys the same recipes: what the older
			// one would have warned about is its to tell.
			changedDefaults = mergeSorted(changedDefaults, old.ChangedDefaults)
		}
	}
	e.seq++
	state, reason := ddoc.Queued, ""
	if refused != nil {
		// Recorded, so that history shows what was refused and why.
		state, reason = ddoc.Failed, refused.Error()
	}
	r := &record{
		Seq:             e.seq,
		Document:        &doc,
		ArtifactDir:     req.ArtifactDir,
		ChangedDefaults: changedDefaults,
		Status: ddoc.Status{DeploymentID: doc.DeploymentID, Group: doc.GroupName, State: state, Reason: reason,
			CreatedAt: now, CommitID: req.CommitID, JobID: req.JobID},
	}
	if refused != nil {
		r.Status.EndedAt = now
	}
	if err := e.rec.putRecord(e.ctx, r); err != nil {
		return ddoc.Status{}, err
	}
	if err := e.rec.trim(e.ctx, append(all, r)); err != nil {
		e.log.Warn("cannot trim deployment history", "error", err)
	}
	e.broadcastLocked()
	if refused != nil {
		e.log.Warn("deployment refused", "deployment", doc.DeploymentID, "group", doc.GroupName, "commit", req.CommitID, "error", refused)
		return r.Status, refused
	}
	e.log.Info("deployment queued", "deployment", doc.DeploymentID, "group", doc.GroupName, "commit", req.CommitID)
	e.poke()
	return r.Status, nil
}

// latest keeps the highest version of each component name.
func latest(recipes []*recipe.Recipe) map[string]*recipe.Recipe {
	out := map[string]*recipe.Recipe{}
	for _, r := range recipes {
		if cur, ok := out[r.Name]; !ok || r.SemVer().GreaterThan(cur.SemVer()) {
			out[r.Name] = r
		}
	}
	return out
}

// ErrNotCancelable is returned by Cancel for a deployment that has ended.
var ErrNotCancelable = errors.New("the deployment has ended")

// Cancel stops deployment id for reason (the cloud canceled its job). A
// queued one ends CANCELED when its turn comes, without running. One in
// progress that has not changed the device yet ends CANCELED when its
// preparation ends. One being
// applied fails, with reason, and follows its failure handling: it rolls
// back (ROLLED_BACK) unless its policy is DO_NOTHING. A cancel is not
// recorded: after a restart the deployment runs to its end.
func (e *Engine) Cancel(id, reason string) error {
	e.mu.Lock()
	r, ok := e.rec.lookup(id)
	if !ok {
		e.mu.Unlock()
		return fmt.Errorf("%w %q: `sward deployment list` shows the known ones", ErrUnknownDeployment, id)
	}
	if r.Status.State.Terminal() {
		e.mu.Unlock()
		return fmt.Errorf("deployment %s is %s: %w", id, r.Status.State, ErrNotCancelable)
	}
	e.canceled[id] = reason
	if e.applying.id == id {
		e.applying.cancel(errors.New("canceled: " + reason))
	}
	e.mu.Unlock()
	e.log.Info("deployment canceled while in progress", "deployment", id, "reason", reason)
	return nil
}

// cancelReason is why deployment id was canceled, "" if it was not.
func (e *Engine) cancelReason(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.canceled[id]
}

// Get returns one deployment's status.
func (e *Engine) Get(id string) (ddoc.Status, error) {
	r, ok := e.rec.lookup(id)
	if !ok {
		return ddoc.Status{}, fmt.Errorf("%w %q: `sward deployment list` shows the known ones", ErrUnknownDeployment, id)
	}
	return r.Status, nil
}

// List returns every recorded deployment, oldest first.
func (e *Engine) List() ([]ddoc.Status, error) {
	all, err := e.rec.all(e.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ddoc.Status, 0, len(all))
	for _, r := range all {
		out = append(out, r.Status)
	}
	return out, nil
}

// Wait blocks until deployment id reaches a terminal state or ctx ends.
func (e *Engine) Wait(ctx context.Context, id string) (ddoc.Status, error) {
	return e.waitFor(ctx, id, func(st ddoc.Status) bool { return st.State.Terminal() })
}

// WaitApplied blocks until deployment id's components have been handed to
// the supervisor, or it ended.
func (e *Engine) WaitApplied(ctx context.Context, id string) (ddoc.Status, error) {
	return e.waitFor(ctx, id, func(st ddoc.Status) bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return st.State.Terminal() || e.applied[id]
	})
}

func (e *Engine) waitFor(ctx context.Context, id string, done func(ddoc.Status) bool) (ddoc.Status, error) {
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		st, err := e.Get(id)
		if err != nil || done(st) {
			return st, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, fmt.Errorf("deployment %s is %s: %w", id, st.State, ctx.Err())
		}
	}
}

func (e *Engine) broadcastLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// loop finishes an interrupted deployment (recover), then runs queued
// deployments one at a time, oldest first.
func (e *Engine) loop(recover func()) {
	defer close(e.finished)
	if recover != nil {
		recover()
	}
	for e.ctx.Err() == nil {
		batch, err := e.nextBatch()
		if err != nil {
			e.log.Error("cannot read the deployment queue", "error", err)
		}
		if len(batch) > 0 {
			e.run(batch)
			continue
		}
		select {
		case <-e.wake:
		case <-e.ctx.Done():
		}
	}
}

// nextBatch returns the oldest queued deployment and, when it is a LOCAL
// change, the LOCAL changes queued right behind it with the same policies.
// One run applies them together, in queue order: a LOCAL document is a
// delta, so none of them may be dropped for a newer one, and applying them
// one by one would cost every one of them a settle.
func (e *Engine) nextBatch() ([]*record, error) {
	all, err := e.rec.all(e.ctx)
	if err != nil {
		return nil, err
	}
	var batch []*record
	for _, r := range all {
		if r.Status.State != ddoc.Queued {
			continue
		}
		if len(batch) == 0 {
			batch = append(batch, r)
			if !r.Document.Local() {
				break
			}
			continue
		}
		if !r.Document.Local() || r.Document.Policies != batch[0].Document.Policies {
			break
		}
		batch = append(batch, r)
	}
	return batch, nil
}

// save writes a record and tells waiters.
func (e *Engine) save(r *record) {
	// A background context: a record must be written even while Close
	// cancels the engine's own, or a restart would find it stale.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rec.putRecord(ctx, r); err != nil {
		e.log.Error("cannot record deployment state", "deployment", r.Status.DeploymentID, "error", err)
	}
	e.mu.Lock()
	e.broadcastLocked()
	e.mu.Unlock()
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
