package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/shared/recipe"
)

// lookup finds a component version's recipe in the catalog.
func (c Catalog) lookup(name, version string) (*recipe.Recipe, bool) {
	for _, r := range c[name] {
		if r.Version == version {
			return r, true
		}
	}
	return nil, false
}

// catalog returns the recipes in the component store. They are parsed once
// and then kept in step with the store by Submit and commit, the only
// writers of its recipes.
func (e *Engine) catalog() (Catalog, error) {
	e.catMu.Lock()
	defer e.catMu.Unlock()
	var err error
	if e.cat == nil {
		var recipes []*recipe.Recipe
		recipes, err = e.opts.Store.Recipes()
		e.cat = Catalog{}
		e.cat.Add(recipes...)
		if err != nil {
			err = fmt.Errorf("component store: %w", err)
		}
	}
	out := make(Catalog, len(e.cat))
	for name, list := range e.cat {
		out[name] = slices.Clone(list)
	}
	return out, err
}

// cataloged records recipes just saved into the store.
func (e *Engine) cataloged(recipes ...*recipe.Recipe) {
	e.catMu.Lock()
	defer e.catMu.Unlock()
	if e.cat != nil {
		e.cat.Add(recipes...)
	}
}

// uncataloged forgets versions the store no longer holds ("name version").
func (e *Engine) uncataloged(removed []string) {
	e.catMu.Lock()
	defer e.catMu.Unlock()
	for _, nv := range removed {
		name, version, _ := strings.Cut(nv, " ")
		e.cat[name] = slices.DeleteFunc(e.cat[name], func(r *recipe.Recipe) bool { return r.Version == version })
		if len(e.cat[name]) == 0 {
			delete(e.cat, name)
		}
	}
}

// build turns a set into the supervisor's components: each recipe's
// selected lifecycle, interpolated with its configuration and its direct
// dependencies' variables. Configurations come from known (the snapshot a
// deployment just wrote) or, for components it lacks, from the store.
func (e *Engine) build(ctx context.Context, s set, known config.Snapshot) ([]lifecycle.Component, config.Snapshot, error) {
	cat, err := e.catalog()
	if err != nil && len(cat) == 0 {
		return nil, nil, err
	}
	used := config.Snapshot{}
	var errs []error
	recipes := map[string]*recipe.Recipe{}
	selections := map[string]*recipe.Selection{}
	vars := map[string]*recipe.Vars{}
	for _, name := range slices.Sorted(maps.Keys(s.Components)) {
		c := s.Components[name]
		r, ok := cat.lookup(name, c.Version)
		if !ok {
			errs = append(errs, fmt.Errorf("component %s %s is not in the component store %s: deploy it again with its recipe", name, c.Version, e.opts.Store.RecipesPath()))
			continue
		}
		sel, err := r.Select(e.opts.Platform)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg, ok := known[name]
		if !ok || cfg == nil {
			var err error
			if cfg, _, err = e.opts.Config.Get(ctx, name); err != nil {
				cfg = r.DefaultConfiguration
			}
		}
		used[name] = cfg
		recipes[name], selections[name] = r, sel
		vars[name] = e.systemVars(name, c.Version)
		vars[name].Config = map[string]any(cfg)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	trustedVars := trustedVarsOf(s, recipes)
	out := make([]lifecycle.Component, 0, len(recipes))
	for _, name := range slices.Sorted(maps.Keys(recipes)) {
		r := recipes[name]
		v := vars[name]
		v.Deps = map[string]*recipe.Vars{}
		var deps []lifecycle.Dependency
		for _, dep := range r.DependencyNames() {
			dv, ok := vars[dep]
			if !ok {
				continue // a SOFT dependency that was left out, or one the nucleus provides
			}
			v.Deps[dep] = dv
			deps = append(deps, lifecycle.Dependency{Name: dep, Hard: r.Dependencies[dep].Type != recipe.Soft})
		}
		l, err := e.trustedSteps(name, selections[name].Lifecycle, trustedVars[name], v)
		if err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", name, err))
			continue
		}
		env := map[string]string{}
		if e.opts.Env != nil {
			env = e.opts.Env(r)
		}
		out = append(out, lifecycle.Component{
			Name:         name,
			Version:      r.Version,
			Dependencies: deps,
			Lifecycle:    toLifecycle(privilegedFromTrusted(l, v, trustedVars[name])),
			Env:          env,
			Revision:     s.Components[name].Revision,
			RunAs:        s.Components[name].RunAs,
			Artifacts:    []string{v.ArtifactsPath, v.DecompressedPath},
			Limits: lifecycle.ResourceLimits{MemoryKB: s.Components[name].Limits.Memory,
				CPUs: s.Components[name].Limits.CPUs},
		})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return out, used, nil
}

// systemVars returns the recipe variables of a component version that do
// not come from configuration: its paths and the thing name.
func (e *Engine) systemVars(name, version string) *recipe.Vars {
	return &recipe.Vars{
		ArtifactsPath:    e.opts.Store.ArtifactsPath(name, version),
		DecompressedPath: e.opts.Store.DecompressedPath(name, version),
		WorkPath:         filepath.Join(e.opts.WorkDir, name),
		KernelRootPath:   e.opts.KernelRoot,
		ThingName:        e.opts.ThingName,
	}
}

// interpolateConfiguration expands the system recipe variables in a
// configuration computed for r (Options.InterpolateComponentConfiguration),
// with those of r's direct dependencies among resolved.
func (e *Engine) interpolateConfiguration(cfg map[string]any, r *recipe.Recipe, resolved map[string]*recipe.Recipe) map[string]any {
	v := e.systemVars(r.Name, r.Version)
	v.Deps = map[string]*recipe.Vars{}
	for _, dep := range r.DependencyNames() {
		if dr, ok := resolved[dep]; ok {
			v.Deps[dep] = e.systemVars(dep, dr.Version)
		}
	}
	return recipe.InterpolateConfiguration(cfg, v)
}

// trustedVarsOf returns, for each component of s that recipes holds, the
// recipe variables of its trusted configuration (component.Trusted, else
// the recipe's defaults), with its direct dependencies' trusted
// configurations: all that RequiresPrivilege and Timeout may read.
func trustedVarsOf(s set, recipes map[string]*recipe.Recipe) map[string]*recipe.Vars {
	out := make(map[string]*recipe.Vars, len(recipes))
	for name, r := range recipes {
		cfg := s.Components[name].Trusted
		if cfg == nil {
			cfg = r.DefaultConfiguration
		}
		out[name] = &recipe.Vars{Config: cfg}
	}
	for name, r := range recipes {
		out[name].Deps = map[string]*recipe.Vars{}
		for _, dep := range r.DependencyNames() {
			if dv, ok := out[dep]; ok {
				out[name].Deps[dep] = dv
			}
		}
	}
	return out
}

// trustedSteps resolves the RequiresPrivilege and Timeout that the recipe
// writes as recipe variables from the trusted configuration only, never
// from values the component wrote about itself over IPC: those must not
// decide what runs as root, nor for how long. Greengrass interpolates
// them from the live configuration; where the live one says otherwise for
// a step's RequiresPrivilege, the trusted value wins and a warning says so.
func (e *Engine) trustedSteps(name string, l recipe.Lifecycle, trusted, live *recipe.Vars) (recipe.Lifecycle, error) {
	out, err := l.Resolve(trusted)
	if err != nil {
		return recipe.Lifecycle{}, err
	}
	for _, st := range out.Steps() {
		text := st.Step.RequiresPrivilegeVar
		if text == "" {
			continue
		}
		asTrusted := strings.TrimSpace(recipe.Interpolate(text, trusted))
		if asLive := strings.TrimSpace(recipe.Interpolate(text, live)); !strings.EqualFold(asLive, asTrusted) {
			e.log.Warn("requiresPrivilege taken from the configuration deployments set, not from the component's own configuration changes",
				"component", name, "step", st.Name, "keys", recipe.VariableKeys(text),
				"requiresPrivilege", st.Step.RequiresPrivilege, "liveConfigurationSays", asLive)
		}
	}
	return out, nil
}

// privilegedFromTrusted interpolates l for the supervisor: its steps with
// the live configuration v, except the steps that run as root, whose Script
// and Setenv (and the lifecycle Setenv they inherit) are interpolated from
// the trusted configuration only. A component can write its own
// configuration over IPC; were a privileged step to read it, the component
// would choose what root runs. The trusted lifecycle Setenv is folded into
// each privileged step's Setenv, which overrides the lifecycle's.
func privilegedFromTrusted(l recipe.Lifecycle, live, trusted *recipe.Vars) recipe.Lifecycle {
	out := l.Interpolate(live)
	tv := *live // system variables of the component, trusted configuration
	tv.Config = trusted.Config
	tv.Deps = map[string]*recipe.Vars{}
	for dep, dv := range live.Deps {
		d := *dv
		if t, ok := trusted.Deps[dep]; ok {
			d.Config = t.Config
		} else {
			d.Config = nil
		}
		tv.Deps[dep] = &d
	}
	asTrusted := l.Interpolate(&tv)
	for _, s := range []struct{ dst, src **recipe.Step }{
		{&out.Bootstrap, &asTrusted.Bootstrap}, {&out.Install, &asTrusted.Install}, {&out.Startup, &asTrusted.Startup},
		{&out.Run, &asTrusted.Run}, {&out.Shutdown, &asTrusted.Shutdown}, {&out.Recover, &asTrusted.Recover},
		{&out.Uninstall, &asTrusted.Uninstall},
	} {
		st := *s.src
		if st == nil || !st.RequiresPrivilege {
			continue
		}
		step := *st
		step.Setenv = asTrusted.Env(st)
		*s.dst = &step
	}
	return out
}

// supervise builds the components of s and hands them to the supervisor,
// after Identities has seen their configurations.
func (e *Engine) supervise(ctx context.Context, s set, known config.Snapshot) error {
	comps, used, err := e.build(ctx, s, known)
	if err != nil {
		return err
	}
	if ids := e.opts.Identities; ids != nil {
		if err := ids.Set(used); err != nil {
			return err
		}
	}
	return e.opts.Supervisor.Apply(comps)
}

// revision digests a component's configuration and installed artifacts.
func revision(cfg map[string]any, artifacts string) string {
	data, _ := json.Marshal(cfg) // map keys marshal sorted: equal configs, equal bytes
	h := sha256.New()
	h.Write(data)
	h.Write([]byte{0})
	h.Write([]byte(artifacts))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

func toLifecycle(l recipe.Lifecycle) lifecycle.Lifecycle {
	return lifecycle.Lifecycle{
		Setenv:    l.Setenv,
		Bootstrap: toStep(l.Bootstrap),
		Install:   toStep(l.Install),
		Startup:   toStep(l.Startup),
		Run:       toStep(l.Run),
		Shutdown:  toStep(l.Shutdown),
		Recover:   toStep(l.Recover),
		Uninstall: toStep(l.Uninstall),
	}
}

func toStep(s *recipe.Step) *lifecycle.Step {
	if s == nil {
		return nil
	}
	out := &lifecycle.Step{Script: s.Script, RequiresPrivilege: s.RequiresPrivilege, Timeout: s.Timeout, Setenv: s.Setenv}
	if s.Skipif != nil {
		out.Skipif = &lifecycle.Skipif{Kind: s.Skipif.Kind, Arg: s.Skipif.Arg}
	}
	return out
}
