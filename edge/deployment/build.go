package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

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

// catalog reads every recipe in the component store.
func (e *Engine) catalog() (Catalog, error) {
	recipes, err := e.opts.Store.Recipes()
	cat := Catalog{}
	cat.Add(recipes...)
	if err != nil {
		return cat, fmt.Errorf("component store: %w", err)
	}
	return cat, nil
}

// build turns a set into the supervisor's components: each recipe's
// selected lifecycle, interpolated with its stored configuration and its
// direct dependencies' variables.
func (e *Engine) build(ctx context.Context, s set) ([]lifecycle.Component, error) {
	cat, err := e.catalog()
	if err != nil && len(cat) == 0 {
		return nil, err
	}
	var errs []error
	recipes := map[string]*recipe.Recipe{}
	selections := map[string]*recipe.Selection{}
	vars := map[string]*recipe.Vars{}
	for _, name := range sortedKeys(s.Components) {
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
		cfg, _, err := e.opts.Config.Get(ctx, name)
		if err != nil {
			cfg = r.DefaultConfiguration
		}
		recipes[name], selections[name] = r, sel
		vars[name] = &recipe.Vars{
			Config:           map[string]any(cfg),
			ArtifactsPath:    e.opts.Store.ArtifactsPath(name, c.Version),
			DecompressedPath: e.opts.Store.DecompressedPath(name, c.Version),
			WorkPath:         filepath.Join(e.opts.WorkDir, name),
			KernelRootPath:   e.opts.KernelRoot,
			ThingName:        e.opts.ThingName,
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]lifecycle.Component, 0, len(recipes))
	for _, name := range sortedKeys(recipes) {
		r := recipes[name]
		v := vars[name]
		v.Deps = map[string]*recipe.Vars{}
		var deps []lifecycle.Dependency
		for _, dep := range r.DependencyNames() {
			dv, ok := vars[dep]
			if !ok {
				continue // a SOFT dependency that was left out
			}
			v.Deps[dep] = dv
			deps = append(deps, lifecycle.Dependency{Name: dep, Hard: r.Dependencies[dep].Type != recipe.Soft})
		}
		env := map[string]string{}
		if e.opts.Env != nil {
			env = e.opts.Env(r)
		}
		out = append(out, lifecycle.Component{
			Name:         name,
			Version:      r.Version,
			Dependencies: deps,
			Lifecycle:    toLifecycle(selections[name].Lifecycle.Interpolate(v)),
			Env:          env,
			Revision:     s.Components[name].Revision,
			RunAs:        s.Components[name].RunAs,
		})
	}
	return out, nil
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
