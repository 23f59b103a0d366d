package lifecycle

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Component is one component as the supervisor runs it: a recipe after
// manifest selection and variable interpolation.
type Component struct {
	Name, Version string
	Dependencies  []Dependency
	Lifecycle     Lifecycle
	// Env is added to the nucleus base environment of every step; Setenv of
	// the lifecycle and of the step override it.
	Env map[string]string
	// Revision is opaque to the supervisor: like any other field, a change
	// restarts the component. The deployment engine changes it when it
	// reinstalls the component's artifacts; a configuration change restarts
	// the component only through the interpolated steps it changes.
	Revision string
	// RunAs is "user[:group]" for this component's non-privileged steps
	// when the nucleus is root (a deployment's runWith posixUser); empty
	// means its own uid (Options.ComponentUIDs), else Options.RunAs.
	RunAs string
	// Artifacts are folders the component's steps read (its artifacts):
	// when the nucleus is root their group becomes the component's, so the
	// group bits the store sets for Permission OWNER let it read them.
	Artifacts []string
	// Limits cap the memory and CPU of all the component's processes
	// (runWith systemResourceLimits), enforced through its cgroup.
	Limits ResourceLimits
}

// Dependency names another component. A HARD dependency must be RUNNING or
// FINISHED before this component starts and restarts it when it stops being
// so; a SOFT dependency imposes nothing.
type Dependency struct {
	Name string
	Hard bool
}

// Lifecycle holds the steps of a component. Nil steps are absent. Startup and
// Run are exclusive, as in Greengrass. Uninstall runs once, when Apply
// removes the component (not when another version replaces it, nor at
// Shutdown).
type Lifecycle struct {
	Setenv                                                         map[string]string
	Bootstrap, Install, Startup, Run, Shutdown, Recover, Uninstall *Step
}

// Step is one lifecycle step.
type Step struct {
	Script            string
	RequiresPrivilege bool
	Skipif            *Skipif
	// Timeout overrides the supervisor default for this step; 0 means the
	// default (Run has none).
	Timeout time.Duration
	Setenv  map[string]string
}

// Skipif skips a step: Kind "onpath" skips when Arg is an executable on the
// step's PATH, Kind "exists" skips when the file Arg exists (a relative Arg
// is resolved against the component's work folder).
type Skipif struct {
	Kind string // "onpath" | "exists"
	Arg  string
}

// Skipif kinds.
const (
	SkipifOnPath = "onpath"
	SkipifExists = "exists"
)

// Step names as they appear in logs and errors.
const (
	stepBootstrap = "Bootstrap"
	stepInstall   = "Install"
	stepStartup   = "Startup"
	stepRun       = "Run"
	stepShutdown  = "Shutdown"
	stepRecover   = "Recover"
	stepUninstall = "Uninstall"
)

func (l *Lifecycle) steps() []struct {
	name string
	step *Step
} {
	return []struct {
		name string
		step *Step
	}{
		{stepBootstrap, l.Bootstrap}, {stepInstall, l.Install}, {stepStartup, l.Startup},
		{stepRun, l.Run}, {stepShutdown, l.Shutdown}, {stepRecover, l.Recover}, {stepUninstall, l.Uninstall},
	}
}

// validate checks one component on its own.
func (c *Component) validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: a component has an empty Name", ErrInvalidComponent)
	}
	if c.Name == "." || c.Name == ".." || strings.ContainsAny(c.Name, "/\\\x00") {
		return fmt.Errorf("%w: component name %q cannot be used as a folder name; use letters, digits, '.', '-' and '_'", ErrInvalidComponent, c.Name)
	}
	if err := c.Limits.validate(); err != nil {
		return fmt.Errorf("%w: component %s: %v", ErrInvalidComponent, c.Name, err)
	}
	if c.Lifecycle.Startup != nil && c.Lifecycle.Run != nil {
		return fmt.Errorf("%w: component %s has both Startup and Run; Greengrass allows only one of them", ErrInvalidComponent, c.Name)
	}
	for _, s := range c.Lifecycle.steps() {
		if s.step == nil {
			continue
		}
		if strings.TrimSpace(s.step.Script) == "" {
			return fmt.Errorf("%w: component %s step %s has an empty Script; give it a script or remove the step", ErrInvalidComponent, c.Name, s.name)
		}
		if s.step.Timeout < 0 {
			return fmt.Errorf("%w: component %s step %s has a negative Timeout %s", ErrInvalidComponent, c.Name, s.name, s.step.Timeout)
		}
		if sk := s.step.Skipif; sk != nil {
			if sk.Kind != SkipifOnPath && sk.Kind != SkipifExists {
				return fmt.Errorf("%w: component %s step %s: Skipif kind %q is not %q or %q", ErrInvalidComponent, c.Name, s.name, sk.Kind, SkipifOnPath, SkipifExists)
			}
			if sk.Arg == "" {
				return fmt.Errorf("%w: component %s step %s: Skipif %s needs an argument", ErrInvalidComponent, c.Name, s.name, sk.Kind)
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range c.Dependencies {
		if d.Name == c.Name {
			return fmt.Errorf("%w: component %s depends on itself", ErrDependencyCycle, c.Name)
		}
		if seen[d.Name] {
			return fmt.Errorf("%w: component %s lists dependency %s twice", ErrInvalidComponent, c.Name, d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// validateSet checks a desired set: each component, unique names, and no
// dependency cycle among the components present (a dependency outside the
// set is allowed: the dependent waits for it).
func validateSet(cs []Component) error {
	byName := make(map[string]*Component, len(cs))
	for i := range cs {
		c := &cs[i]
		if err := c.validate(); err != nil {
			return err
		}
		if byName[c.Name] != nil {
			return fmt.Errorf("%w: component %s appears twice in the set; give each component once", ErrInvalidComponent, c.Name)
		}
		byName[c.Name] = c
	}
	if cyc := findCycle(byName); cyc != nil {
		return fmt.Errorf("%w: %s; remove one of these dependencies", ErrDependencyCycle, strings.Join(cyc, " -> "))
	}
	return nil
}

// findCycle returns one dependency cycle as a path whose first and last
// names are equal, or nil. Both HARD and SOFT edges count: Greengrass
// rejects any circular dependency.
func findCycle(byName map[string]*Component) []string {
	const (
		unvisited = iota
		onStack
		done
	)
	mark := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		mark[n] = onStack
		stack = append(stack, n)
		for _, d := range byName[n].Dependencies {
			if byName[d.Name] == nil {
				continue
			}
			switch mark[d.Name] {
			case onStack:
				i := slices.Index(stack, d.Name)
				return append(slices.Clone(stack[i:]), d.Name)
			case unvisited:
				if cyc := visit(d.Name); cyc != nil {
					return cyc
				}
			}
		}
		stack = stack[:len(stack)-1]
		mark[n] = done
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		if mark[n] == unvisited {
			if cyc := visit(n); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}

// clone returns a deep copy, so callers may reuse their slices and maps,
// with nil and empty maps made equal for sameAs.
func (c Component) clone() Component {
	cp := c
	cp.Dependencies = nil
	if len(c.Dependencies) > 0 {
		cp.Dependencies = slices.Clone(c.Dependencies)
	}
	cp.Env = cloneMap(c.Env)
	cp.Artifacts = slices.Clone(c.Artifacts)
	cp.Lifecycle.Setenv = cloneMap(c.Lifecycle.Setenv)
	for _, p := range []**Step{&cp.Lifecycle.Bootstrap, &cp.Lifecycle.Install, &cp.Lifecycle.Startup,
		&cp.Lifecycle.Run, &cp.Lifecycle.Shutdown, &cp.Lifecycle.Recover, &cp.Lifecycle.Uninstall} {
		if *p == nil {
			continue
		}
		st := **p
		st.Setenv = cloneMap(st.Setenv)
		if st.Skipif != nil {
			sk := *st.Skipif
			st.Skipif = &sk
		}
		*p = &st
	}
	return cp
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// sameAs reports whether two cloned components are identical, in which case
// Apply leaves the running one alone.
func (c *Component) sameAs(o *Component) bool { return reflect.DeepEqual(c, o) }

// hardDeps returns the names of the HARD dependencies.
func (c *Component) hardDeps() []string {
	var out []string
	for _, d := range c.Dependencies {
		if d.Hard {
			out = append(out, d.Name)
		}
	}
	return out
}
