package deployment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/store"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// run takes a batch of queued deployments (nextBatch) through prepare →
// apply → wait, and on failure through rollback (or not, for DO_NOTHING).
// The first carries the others: it is the one recorded as active, and the
// others end in its state. Every stage is recorded before the engine acts
// on it.
func (e *Engine) run(batch []*record) {
	batch = e.refuseInapplicable(batch)
	if len(batch) == 0 {
		return
	}
	if reason := e.cancelReason(batch[0].Status.DeploymentID); reason != "" {
		e.finish(batch[0], ddoc.Canceled, "canceled before it started: "+reason, nil)
		return // the others run next
	}
	r, carried := batch[0], batch[1:]
	now := time.Now().UTC()
	// The carried records first: a restart that finds the carrier
	// IN_PROGRESS finds them marked too (see Start).
	for _, c := range carried {
		c.Status.State, c.Status.StartedAt = ddoc.InProgress, now
		c.Status.CarriedBy = r.Status.DeploymentID
		c.Status.Reason = "applied together with deployment " + r.Status.DeploymentID
		e.save(c)
	}
	r.Status.State = ddoc.InProgress
	r.Status.StartedAt = now
	r.Status.Reason = ""
	r.Status.Carries = nil
	for _, c := range carried {
		r.Status.Carries = append(r.Status.Carries, c.Status.DeploymentID)
	}
	e.save(r)
	e.log.Info("deployment started", "deployment", r.Status.DeploymentID, "group", r.Status.Group, "carries", r.Status.Carries)

	act, warnings, err := e.prepare(batch)
	if e.ctx.Err() != nil {
		return // stopping: IN_PROGRESS without a target is requeued at the next start
	}
	if len(warnings) > 0 {
		r.Status.Warnings = warnings
		e.save(r)
	}
	if err == nil {
		err = e.consult(r, act)
	}
	if e.ctx.Err() != nil {
		return
	}
	if reason := e.cancelReason(r.Status.DeploymentID); err == nil && reason != "" {
		e.finish(r, ddoc.Canceled, "canceled before it changed anything: "+reason, nil)
		return
	}
	if err != nil {
		// Nothing has changed on the device yet.
		e.finish(r, ddoc.Failed, err.Error(), nil)
		return
	}
	if err := e.rec.put(e.ctx, keyActive, act); err != nil {
		e.finish(r, ddoc.Failed, err.Error(), nil)
		return
	}
	e.applyTarget(r, act)
}

// refuseInapplicable ends, on its own, each LOCAL change of batch that
// cannot apply where it stands in the queue (a configuration-only change to
// a component that no group deploys to the device once the changes before
// it are applied): it would fail the same way applied alone, and it must not
// fail the others. It returns the rest.
func (e *Engine) refuseInapplicable(batch []*record) []*record {
	if !batch[0].Document.Local() {
		return batch
	}
	roots := e.current.Groups[ddoc.LocalGroup]
	removed := map[string]bool{}
	var out []*record
	for _, r := range batch {
		onDevice := func(name string) bool {
			if _, ok := roots[name]; ok {
				return true
			}
			if otherGroupDeploys(e.current, ddoc.LocalGroup, name) {
				return true
			}
			_, ok := e.current.Components[name] // a dependency, unless a change before removed it
			return ok && !removed[name]
		}
		if err := configOnlyOnDevice(r.Document, onDevice); err != nil {
			r.Status.StartedAt = time.Now().UTC()
			e.finish(r, ddoc.Failed, err.Error(), nil)
			continue
		}
		for _, name := range r.Document.ComponentsToRemove {
			removed[name] = true
		}
		roots = r.Document.RootComponents(roots)
		out = append(out, r)
	}
	return out
}

// carried gives r, carried by another deployment, that deployment's outcome.
func carried(r *record, by ddoc.Status) {
	r.Status.State, r.Status.EndedAt = by.State, by.EndedAt
	r.Status.Components, r.Status.Warnings = by.Components, by.Warnings
	r.Status.Reason = "applied together with deployment " + by.DeploymentID
	if by.Reason != "" {
		r.Status.Reason += ": " + by.Reason
	}
}

// consult lets the components take part before anything changes: those
// whose configuration changes validate it (Validate), then all that
// subscribed hear of the update and may defer it (Notify, unless the
// document says SKIP_NOTIFY_COMPONENTS).
func (e *Engine) consult(r *record, act *active) error {
	p := e.opts.Participants
	if p == nil {
		return nil
	}
	pol := r.Document.Policies
	changed := map[string]map[string]any{}
	for name, cfg := range act.TargetConfig {
		if _, running := act.Previous.Components[name]; running && cfg != nil && !sameConfig(act.PreviousConfig[name], cfg) {
			changed[name] = cfg
		}
	}
	if len(changed) > 0 {
		// Decode fills in the defaults: 0 here was asked for (no wait).
		t := time.Duration(pol.ConfigurationValidation.TimeoutSeconds) * time.Second
		if err := p.Validate(e.ctx, act.DeploymentID, changed, t); err != nil {
			return err
		}
	}
	if pol.ComponentUpdate.Action != ddoc.SkipNotifyComponents && len(act.Previous.Components) > 0 {
		p.Notify(e.ctx, act.DeploymentID, time.Duration(pol.ComponentUpdate.TimeoutSeconds)*time.Second)
	}
	return nil
}

// changes is what a batch's documents ask of each component, folded in
// queue order.
type changes struct {
	// updates are the configuration updates, each with its deployment.
	updates map[string][]update
	// restarted components were removed by one change and deployed again
	// by a later one: their configuration starts again from the defaults,
	// and updates before the removal are dropped.
	restarted map[string]bool
	// posixUser is the last runWith posixUser given.
	posixUser map[string]string
	// limits are the last runWith systemResourceLimits given.
	limits map[string]ddoc.SystemResourceLimits
	// artifactDir is the artifact folder of the last document naming the
	// component with one; lastArtifactDir the last one given at all (for
	// dependencies no document names).
	artifactDir     map[string]string
	lastArtifactDir string
}

// update is one document's configuration update of a component.
type update struct {
	deploymentID string
	ddoc.ConfigurationUpdate
}

// fold gathers what the documents of batch ask of each component, in
// queue order: later updates apply after earlier ones, a later runWith or
// artifact folder wins.
func fold(batch []*record) changes {
	c := changes{updates: map[string][]update{}, restarted: map[string]bool{}, posixUser: map[string]string{},
		limits: map[string]ddoc.SystemResourceLimits{}, artifactDir: map[string]string{}}
	removed := map[string]bool{}
	for _, r := range batch {
		for _, name := range r.Document.ComponentsToRemove {
			removed[name] = true
			delete(c.updates, name)
		}
		for name, comp := range r.Document.Components {
			if removed[name] {
				c.restarted[name] = true
			}
			if u := comp.ConfigurationUpdate; len(u.Merge) > 0 || len(u.Reset) > 0 {
				c.updates[name] = append(c.updates[name], update{r.Status.DeploymentID, u})
			}
			if comp.RunWith.PosixUser != "" {
				c.posixUser[name] = comp.RunWith.PosixUser
			}
			if lim := comp.RunWith.SystemResourceLimits; lim != (ddoc.SystemResourceLimits{}) {
				c.limits[name] = lim
			}
			if r.ArtifactDir != "" {
				c.artifactDir[name] = r.ArtifactDir
			}
		}
		if r.ArtifactDir != "" {
			c.lastArtifactDir = r.ArtifactDir
		}
	}
	return c
}

// artifactsFrom is the folder a component's artifacts are installed from.
func (c changes) artifactsFrom(name string) string {
	if dir, ok := c.artifactDir[name]; ok {
		return dir
	}
	return c.lastArtifactDir
}

// resetsAll reports whether a change resets name's whole configuration.
func (c changes) resetsAll(name string) bool {
	for _, u := range c.updates[name] {
		if slices.Contains(u.Reset, "") {
			return true
		}
	}
	return false
}

// prepare resolves the target set of a batch (one deployment, or LOCAL
// changes applied together in order), installs what it needs into the
// component store and computes every configuration. It changes nothing
// that runs: an error here fails the batch with nothing to undo. It also
// returns warnings for the deployment's status.
func (e *Engine) prepare(batch []*record) (*active, []string, error) {
	r := batch[0]
	doc := r.Document
	prev := e.current
	groups := map[string]map[string]string{}
	for g, roots := range prev.Groups {
		groups[g] = maps.Clone(roots)
	}
	roots := groups[doc.GroupName]
	for _, b := range batch {
		roots = b.Document.RootComponents(roots)
	}
	if len(roots) == 0 {
		delete(groups, doc.GroupName)
	} else {
		groups[doc.GroupName] = roots
	}
	ch := fold(batch)
	req := map[string][]Root{}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		for name, v := range groups[g] {
			req[name] = append(req[name], Root{Version: v, Group: g})
		}
	}
	cat, err := e.catalog()
	if err != nil {
		e.log.Warn("component store holds unreadable recipes", "error", err)
	}
	resolved, err := Resolve(req, cat, e.opts.Builtin)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range batch {
		if err := configOnlyOnDevice(b.Document, func(name string) bool { _, ok := resolved[name]; return ok }); err != nil {
			return nil, nil, err
		}
	}

	// Artifacts: refused (greengrass:, docker:), downloaded and
	// digest-checked for every component before any is installed, then
	// installed (unarchived) before anything runs.
	artifacts := map[string]string{}
	selections := map[string]*recipe.Selection{}
	var wants []store.Want
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(resolved)) {
		rc := resolved[name]
		sel, err := rc.Select(e.opts.Platform)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		selections[name] = sel
		old, wasThere := prev.Components[name]
		if wasThere && old.Version == rc.Version && ch.artifactDir[name] == "" && e.opts.Store.Installed(name, rc.Version) {
			artifacts[name] = ""
			continue
		}
		wants = append(wants, store.Want{Recipe: rc, Selection: sel, ArtifactDir: ch.artifactsFrom(name)})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if err := e.opts.Store.Fetch(e.ctx, wants, func(p ddoc.Progress) { e.progress(r, p) }); err != nil {
		return nil, nil, err
	}
	for _, w := range wants {
		sum, err := e.opts.Store.Install(w.Recipe, w.Selection, w.ArtifactDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		artifacts[w.Recipe.Name] = sum
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}

	// Configuration: new versions are upgraded to their defaults, then the
	// documents' resets and merges apply, each reset before its merge
	// (Greengrass order), document by document.
	names := slices.Sorted(maps.Keys(resolved))
	for name := range prev.Components {
		if _, ok := resolved[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	before, err := e.opts.Config.Snapshot(e.ctx, names)
	if err != nil {
		return nil, nil, err
	}
	after := config.Snapshot{}
	target := set{DeploymentID: r.Status.DeploymentID, Groups: groups, Components: map[string]component{}}
	for _, name := range names {
		rc, ok := resolved[name]
		if !ok {
			after[name] = nil // removed: its configuration goes with it
			continue
		}
		cfg := before[name]
		var trusted map[string]any // what deployments alone made of it
		old, wasThere := prev.Components[name]
		if !wasThere || (ch.restarted[name] && !otherGroupDeploys(prev, doc.GroupName, name)) {
			cfg = nil // a component new to the device starts from its defaults
		} else {
			// Same version: fills in missing default keys; new version: moves
			// values still at the old default to the new one.
			oldDefaults := rc.DefaultConfiguration
			if or, ok := cat.lookup(name, old.Version); ok {
				oldDefaults = or.DefaultConfiguration
			}
			cfg = config.Upgrade(cfg, oldDefaults, rc.DefaultConfiguration)
			trusted = config.Upgrade(old.Trusted, oldDefaults, rc.DefaultConfiguration)
		}
		updates := ch.updates[name]
		if len(updates) == 0 {
			updates = []update{{deploymentID: r.Status.DeploymentID}} // fills in the defaults
		}
		failed := false
		for _, u := range updates {
			if cfg, err = config.Apply(cfg, rc.DefaultConfiguration, u.Reset, u.Merge); err == nil {
				trusted, err = config.Apply(trusted, rc.DefaultConfiguration, u.Reset, u.Merge)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("component %s: configuration update of deployment %s: %w", name, u.deploymentID, err))
				failed = true
				break
			}
		}
		if failed {
			continue
		}
		if f := e.opts.CheckConfig; f != nil && (!wasThere || !sameConfig(before[name], cfg)) {
			if err := f(name, cfg); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if e.opts.InterpolateComponentConfiguration {
			cfg = e.interpolateConfiguration(cfg, rc, resolved)
			trusted = e.interpolateConfiguration(trusted, rc, resolved)
		}
		after[name] = cfg
		rev := revision(nil, artifacts[name])
		if artifacts[name] == "" && wasThere && old.Version == rc.Version {
			// Same version, nothing reinstalled: keep the revision. As in
			// Greengrass, a configuration change restarts the component only
			// when a step interpolates a key that changed (its steps differ
			// then); otherwise it reaches the component as IPC events.
			rev = old.Revision
		}
		runAs := old.RunAs
		if user := ch.posixUser[name]; user != "" {
			if _, err := lifecycle.ParseRunAs(user); err != nil {
				errs = append(errs, fmt.Errorf("components[%q].runWith.posixUser: %w", name, err))
				continue
			}
			runAs = user
		}
		limits := old.Limits
		if lim, ok := ch.limits[name]; ok {
			limits = lim
		}
		target.Components[name] = component{Version: rc.Version, Revision: rev, RunAs: runAs, Limits: limits, Trusted: trusted}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	// RequiresPrivilege and Timeout written as recipe variables must resolve
	// before anything runs.
	trustedVars := trustedVarsOf(target, resolved)
	for _, name := range slices.Sorted(maps.Keys(selections)) {
		if _, err := selections[name].Lifecycle.Resolve(trustedVars[name]); err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	warnings := e.keptConfigurations(batch, prev, target, ch)
	return &active{DeploymentID: r.Status.DeploymentID, Stage: stageApplying,
		Previous: prev, PreviousConfig: before, Target: target, TargetConfig: after}, warnings, nil
}

// progress records how far r's downloads are (from the store's Fetch,
// while the engine's goroutine waits for it).
func (e *Engine) progress(r *record, p ddoc.Progress) {
	r.Status.Progress = &p
	e.save(r)
}

// otherGroupDeploys reports whether a group other than group has name
// among its roots in s.
func otherGroupDeploys(s set, group, name string) bool {
	for g, roots := range s.Groups {
		if _, ok := roots[name]; ok && g != group {
			return true
		}
	}
	return false
}

func sameConfig(a, b map[string]any) bool { return revision(a, "") == revision(b, "") }

// applyTarget writes the target configuration, hands the target set to the
// supervisor and waits for it to settle. It is also how an interrupted
// deployment is finished after a restart.
func (e *Engine) applyTarget(r *record, act *active) {
	ctx := context.Background()
	// Cancel fails the settle of this deployment (the run's context).
	run, cancelRun := context.WithCancelCause(e.ctx)
	defer cancelRun(nil)
	e.mu.Lock()
	e.applying.id, e.applying.cancel = act.DeploymentID, cancelRun
	if reason, ok := e.canceled[act.DeploymentID]; ok {
		cancelRun(errors.New("canceled: " + reason))
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.applying.id, e.applying.cancel = "", nil
		delete(e.canceled, act.DeploymentID)
		e.mu.Unlock()
	}()
	err := e.opts.Config.Restore(ctx, act.TargetConfig)
	if err == nil {
		err = e.supervise(ctx, act.Target, act.TargetConfig)
	}
	e.markApplied(r)
	if err == nil {
		err = e.settle(run, act.Target)
	}
	if cause := context.Cause(run); err != nil && cause != nil && e.ctx.Err() == nil {
		err = cause // canceled: the failure is the cancel, not the settle it cut short
	}
	if e.ctx.Err() != nil {
		// The nucleus is stopping: the active record stays, and the next
		// start finishes this deployment.
		return
	}
	outcomes := e.outcomes(act.Previous, act.Target)
	if p := e.opts.Participants; p != nil {
		p.Updated(act.DeploymentID)
	}
	switch {
	case err == nil:
		e.commit(ctx, act.Target, act.Previous)
		e.finish(r, ddoc.Succeeded, "", outcomes)
	case r.Document.Policies.FailureHandling == ddoc.DoNothing:
		e.commit(ctx, act.Target, act.Previous)
		e.finish(r, ddoc.Failed, err.Error()+"; left as it is (failureHandlingPolicy DO_NOTHING)", outcomes)
	default:
		e.rollback(r, act, err.Error())
	}
}

// rollback restores the previous set and configuration exactly.
func (e *Engine) rollback(r *record, act *active, reason string) {
	ctx := context.Background()
	act.Stage, act.Reason = stageRollingBack, reason
	if err := e.rec.put(ctx, keyActive, act); err != nil {
		e.log.Error("cannot record the rollback", "deployment", act.DeploymentID, "error", err)
	}
	e.log.Warn("deployment failed, rolling back", "deployment", act.DeploymentID, "reason", reason)
	err := e.opts.Config.Restore(ctx, act.PreviousConfig)
	if err == nil {
		err = e.supervise(ctx, act.Previous, act.PreviousConfig)
	}
	if err == nil {
		err = e.settle(e.ctx, act.Previous)
	}
	if e.ctx.Err() != nil {
		return // the next start finishes the rollback
	}
	outcomes := e.outcomes(act.Target, act.Previous)
	e.commit(ctx, act.Previous, act.Previous)
	if err != nil {
		e.finish(r, ddoc.Failed, reason+"; the rollback failed too: "+err.Error(), outcomes)
		return
	}
	e.finish(r, ddoc.RolledBack, reason+"; rolled back to the previous components and configuration", outcomes)
}

// commit makes s the last good set and forgets the active deployment, then
// collects store versions neither s nor keep uses, once the components the
// set no longer has are gone (their Uninstall steps may use their
// artifacts).
func (e *Engine) commit(ctx context.Context, s, keep set) {
	if err := e.rec.put(ctx, keyCurrent, s); err != nil {
		e.log.Error("cannot record the running set", "error", err)
	}
	if err := e.rec.del(ctx, keyActive); err != nil {
		e.log.Error("cannot clear the active deployment", "error", err)
	}
	e.mu.Lock()
	e.current = s
	e.mu.Unlock()
	removing, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	defer cancel()
	if err := e.opts.Supervisor.WaitRemoved(removing); err != nil {
		e.log.Warn("component store not collected: removed components have not ended; the next deployment collects", "error", err)
		return
	}
	versions := map[string][]string{}
	for _, x := range []set{s, keep} {
		for name, c := range x.Components {
			versions[name] = append(versions[name], c.Version)
		}
	}
	cat, _ := e.catalog()
	var candidates []*recipe.Recipe
	for _, list := range cat {
		candidates = append(candidates, list...)
	}
	removed, err := e.opts.Store.Collect(candidates, versions)
	e.uncataloged(removed)
	if err != nil {
		e.log.Warn("component store collection incomplete", "error", err)
	} else if len(removed) > 0 {
		e.log.Info("collected unused component versions", "removed", removed)
	}
}

// finish records r's end, and the same end for every deployment it
// carries.
func (e *Engine) finish(r *record, state ddoc.State, reason string, outcomes []ddoc.ComponentOutcome) {
	r.Status.State, r.Status.Reason = state, reason
	r.Status.EndedAt = time.Now().UTC()
	if outcomes != nil {
		r.Status.Components = outcomes
	}
	e.save(r)
	for _, id := range r.Status.Carries {
		c, ok := e.rec.lookup(id)
		if !ok {
			continue
		}
		carried(c, r.Status)
		e.save(c)
	}
	e.mu.Lock()
	for _, id := range append([]string{r.Status.DeploymentID}, r.Status.Carries...) {
		delete(e.applied, id)
		delete(e.canceled, id)
	}
	e.mu.Unlock()
	e.log.Info("deployment ended", "deployment", r.Status.DeploymentID, "state", string(state), "reason", reason, "carries", r.Status.Carries)
}

// markApplied records that r's components (and so those of every
// deployment it carries) went to the supervisor.
func (e *Engine) markApplied(r *record) {
	e.mu.Lock()
	for _, id := range append([]string{r.Status.DeploymentID}, r.Status.Carries...) {
		e.applied[id] = true
	}
	e.broadcastLocked()
	e.mu.Unlock()
}

// settle waits until every component of s is RUNNING or FINISHED and stays
// so for StableFor. A BROKEN one fails it at once; so does the timeout.
func (e *Engine) settle(parent context.Context, s set) error {
	ctx, cancel := context.WithTimeout(parent, e.opts.Timeout)
	defer cancel()
	for {
		if err := e.settledOnce(ctx, s); err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not settled within %s: %s", e.opts.Timeout, e.unsettled(s))
			}
			return err
		}
		// Settled: it must hold for StableFor, so that a component that
		// exits right after starting fails the deployment.
		stable, cancelStable := context.WithTimeout(ctx, e.opts.StableFor)
		left := e.anyUnsettled(stable, s)
		cancelStable()
		if !left {
			if ctx.Err() != nil {
				return fmt.Errorf("not settled within %s: %s", e.opts.Timeout, e.unsettled(s))
			}
			return nil
		}
	}
}

// check reports whether every component of s is RUNNING or FINISHED, and
// an error for a BROKEN or missing one.
func (e *Engine) check(s set) (bool, error) {
	all := true
	for _, name := range slices.Sorted(maps.Keys(s.Components)) {
		st, ok := e.opts.Supervisor.Status(name)
		if !ok {
			return false, fmt.Errorf("component %s is not supervised", name)
		}
		switch st.State {
		case lifecycle.StateBroken:
			return false, fmt.Errorf("component %s is BROKEN: %s", name, st.Reason)
		case lifecycle.StateRunning, lifecycle.StateFinished:
		default:
			all = false
		}
	}
	return all, nil
}

// settledOnce waits until check holds or fails.
func (e *Engine) settledOnce(ctx context.Context, s set) error {
	if len(s.Components) == 0 {
		return nil
	}
	var failed error
	_, err := e.opts.Supervisor.WaitUntil(ctx, slices.Sorted(maps.Keys(s.Components))[0], func(lifecycle.Status) bool {
		ok, err := e.check(s)
		failed = err
		return ok || err != nil
	})
	if failed != nil {
		return failed
	}
	return err
}

// anyUnsettled waits until ctx ends (false) or a component of s stops being
// RUNNING or FINISHED (true).
func (e *Engine) anyUnsettled(ctx context.Context, s set) bool {
	if len(s.Components) == 0 {
		return false
	}
	left := false
	_, _ = e.opts.Supervisor.WaitUntil(ctx, slices.Sorted(maps.Keys(s.Components))[0], func(lifecycle.Status) bool {
		ok, err := e.check(s)
		left = !ok || err != nil
		return left
	})
	return left
}

// unsettled describes the components of s that are not RUNNING or FINISHED.
func (e *Engine) unsettled(s set) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(s.Components)) {
		st, _ := e.opts.Supervisor.Status(name)
		if st.State != lifecycle.StateRunning && st.State != lifecycle.StateFinished {
			parts = append(parts, fmt.Sprintf("%s is %s (%s)", name, st.State, st.Reason))
		}
	}
	return strings.Join(parts, "; ")
}

// configOnlyOnDevice checks that every component doc lists without a
// version (a configuration or runWith change only) is on the device:
// one of the group's roots, another group's, or a dependency.
func configOnlyOnDevice(doc *ddoc.Document, onDevice func(name string) bool) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(doc.Components)) {
		if doc.Components[name].Version == "" && !onDevice(name) {
			errs = append(errs, fmt.Errorf("%w: components[%q] changes only the configuration of %s, which no group deploys to this device; give the version to deploy (--merge %s=VERSION)",
				ErrNotOnDevice, name, name, name))
		}
	}
	return errors.Join(errs...)
}

// outcomes reports, for every component in from or to, its version before
// and after and its state now.
func (e *Engine) outcomes(from, to set) []ddoc.ComponentOutcome {
	names := map[string]bool{}
	for n := range from.Components {
		names[n] = true
	}
	for n := range to.Components {
		names[n] = true
	}
	var out []ddoc.ComponentOutcome
	for _, name := range slices.Sorted(maps.Keys(names)) {
		o := ddoc.ComponentOutcome{Name: name, Version: to.Components[name].Version, PreviousVersion: from.Components[name].Version}
		if st, ok := e.opts.Supervisor.Status(name); ok && o.Version != "" {
			o.State, o.Reason = string(st.State), st.Reason
		} else if o.Version == "" {
			o.State = "REMOVED"
		}
		out = append(out, o)
	}
	return out
}
