package nucleus

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/shared/recipe"
)

// deployDir runs the latest version of every component found in dir. It is
// all or nothing: an invalid recipe, an unmet HARD dependency or a missing
// artifact refuses the whole set before anything starts.
//
// This is the startup seam the deployment engine replaces: it will hand the
// supervisor the same []lifecycle.Component built from its resolved set.
func (n *Nucleus) deployDir(dir string) error {
	recipes, err := recipe.LoadDir(dir)
	if err != nil {
		return fmt.Errorf("recipes in %s: %w", dir, err)
	}
	latest := latestVersions(recipes)
	if len(latest) == 0 {
		n.log.Warn("no recipes found", "dir", dir)
	}
	components, err := n.plan(latest)
	if err != nil {
		return fmt.Errorf("recipes in %s: %w", dir, err)
	}
	if err := n.supervisor.Apply(components); err != nil {
		return fmt.Errorf("recipes in %s: %w", dir, err)
	}
	n.log.Info("deployed recipes", "dir", dir, "components", len(components))
	return nil
}

// latestVersions keeps the highest version of each component name.
func latestVersions(recipes []*recipe.Recipe) map[string]*recipe.Recipe {
	latest := map[string]*recipe.Recipe{}
	for _, r := range recipes {
		if cur, ok := latest[r.Name]; !ok || r.SemVer().GreaterThan(cur.SemVer()) {
			latest[r.Name] = r
		}
	}
	return latest
}

// plan selects each recipe's manifest, checks dependencies, installs
// artifacts and turns every recipe into the supervisor's resolved form.
func (n *Nucleus) plan(set map[string]*recipe.Recipe) ([]lifecycle.Component, error) {
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)

	var errs []error
	selections := map[string]*recipe.Selection{}
	for _, name := range names {
		r := set[name]
		sel, err := r.Select(n.opts.Platform)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		selections[name] = sel
		errs = append(errs, checkDependencies(r, set)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, name := range names {
		if _, err := n.store.Install(set[name], selections[name], n.opts.ArtifactsDir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	vars := map[string]*recipe.Vars{}
	for _, name := range names {
		vars[name] = n.vars(set[name])
	}
	components := make([]lifecycle.Component, 0, len(names))
	for _, name := range names {
		r := set[name]
		v := vars[name]
		v.Deps = map[string]*recipe.Vars{}
		var deps []lifecycle.Dependency
		for _, dep := range r.DependencyNames() {
			if dv, ok := vars[dep]; ok {
				v.Deps[dep] = dv
			}
			deps = append(deps, lifecycle.Dependency{Name: dep, Hard: r.Dependencies[dep].Type != recipe.Soft})
		}
		components = append(components, lifecycle.Component{
			Name:         r.Name,
			Version:      r.Version,
			Dependencies: deps,
			Lifecycle:    toLifecycle(selections[name].Lifecycle.Interpolate(v)),
			Env:          n.componentEnv(r, v),
		})
	}
	return components, nil
}

// checkDependencies reports every HARD dependency that is missing from the
// set or whose version the requirer's range does not allow.
func checkDependencies(r *recipe.Recipe, set map[string]*recipe.Recipe) []error {
	var errs []error
	for _, name := range r.DependencyNames() {
		dep := r.Dependencies[name]
		got, ok := set[name]
		switch {
		case !ok && dep.Type == recipe.Soft:
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("%s: component %s needs %s %s (HARD), which is not in the recipes folder: add its recipe or make the dependency SOFT",
				r.File, r.Name, name, dep.VersionRequirement))
		case !dep.Allows(got.SemVer()):
			errs = append(errs, fmt.Errorf("%s: component %s needs %s %s but the recipes folder has %s: change the VersionRequirement or the version",
				r.File, r.Name, name, dep.VersionRequirement, got.Version))
		}
	}
	return errs
}

func (n *Nucleus) vars(r *recipe.Recipe) *recipe.Vars {
	cfg := any(r.DefaultConfiguration)
	if r.DefaultConfiguration == nil {
		cfg = map[string]any{}
	}
	return &recipe.Vars{
		Config:           cfg,
		ArtifactsPath:    n.store.ArtifactsPath(r.Name, r.Version),
		DecompressedPath: n.store.DecompressedPath(r.Name, r.Version),
		WorkPath:         filepath.Join(n.opts.Root, dirWork, r.Name),
		KernelRootPath:   n.opts.Root,
		ThingName:        n.opts.ThingName,
	}
}

// componentEnv is the environment every lifecycle step of a component gets
// (documented in docs/components.md).
func (n *Nucleus) componentEnv(r *recipe.Recipe, v *recipe.Vars) map[string]string {
	env := map[string]string{
		"SWARD_NATS_URL":          n.broker.NATSURL(),
		"SWARD_NATS_USER":         userComponent,
		"SWARD_NATS_PASSWORD":     n.componentPassword,
		"SWARD_COMPONENT_NAME":    r.Name,
		"SWARD_COMPONENT_VERSION": r.Version,
		"SWARD_ROOT":              n.opts.Root,
		"SWARD_WORK_PATH":         v.WorkPath,
		"AWS_IOT_THING_NAME":      n.opts.ThingName,
		"AWS_REGION":              n.opts.Region,
		"AWS_DEFAULT_REGION":      n.opts.Region,
	}
	if addr := n.broker.MQTTAddr(); addr != "" {
		env["SWARD_MQTT_URL"] = "tcp://" + addr
	}
	return env
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
