package deployment

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/sward-iot/sward/shared/recipe"
)

// Catalog lists the recipes available to a deployment, by component name.
type Catalog map[string][]*recipe.Recipe

// Add puts recipes into the catalog; a name and version already present is
// replaced.
func (c Catalog) Add(recipes ...*recipe.Recipe) {
	for _, r := range recipes {
		list := c[r.Name]
		list = slices.DeleteFunc(list, func(o *recipe.Recipe) bool { return o.Version == r.Version })
		c[r.Name] = append(list, r)
	}
}

// Root is a component a group deploys at an exact version.
type Root struct {
	Version string
	Group   string
}

// ErrConflict means no version of a component satisfies every requirer.
var ErrConflict = errors.New("dependency conflict")

// maxResolveRounds bounds the fixpoint search: each round re-picks every
// component from the current requirers, and a set of n components settles
// in at most n rounds unless picks oscillate, which this bound turns into an
// error instead of a hang.
const maxResolveRounds = 64

type requirement struct {
	by string // "group LOCAL" or "com.example.A 1.0.0"
	// groups are the groups whose roots bring a requiring component, for
	// the error of a conflict between them.
	groups []string
	rng    string
	c      *semver.Constraints
	soft   bool // a SOFT dependency's requirement
}

// Builtin says whether the nucleus provides a component itself (see
// Options.Builtin): true for one it provides, an error naming what the
// device lacks for one it would provide if configured.
type Builtin func(name string) (bool, error)

// Resolve picks one recipe per component: every root at its exact version
// (groups that name the same root must agree) and every dependency,
// transitively, at the highest version in the catalog that satisfies the
// VersionRequirement of every component requiring it (npm range semantics,
// intersected). A conflict names every requirer and range and the versions
// the catalog has. A dependency that only SOFT requirers name and that no
// recipe offers is left out: SOFT means the requirer runs without it.
// A component builtin provides is left out whatever the requirements (the
// nucleus runs it, at its own version); one builtin refuses fails the
// requirers that need it with builtin's error. Versions are picked
// greedily, highest first, without backtracking.
func Resolve(roots map[string][]Root, cat Catalog, builtin Builtin) (map[string]*recipe.Recipe, error) {
	var rootErrs []error
	rootReqs := map[string][]requirement{}
	for name, rs := range roots {
		for _, r := range rs {
			c, err := semver.NewConstraint("=" + r.Version)
			if err != nil {
				rootErrs = append(rootErrs, fmt.Errorf("group %s deploys %s at %q, which is not a version: use major.minor.patch", r.Group, name, r.Version))
				continue
			}
			rootReqs[name] = append(rootReqs[name], requirement{by: "group " + r.Group, rng: r.Version, c: c})
		}
	}
	if len(rootErrs) > 0 {
		return nil, errors.Join(rootErrs...)
	}
	selected := map[string]*recipe.Recipe{}
	for range maxResolveRounds {
		reqs := map[string][]requirement{}
		for name, rs := range rootReqs {
			reqs[name] = append(reqs[name], rs...)
		}
		var errs []error
		reached := groupsReaching(roots, selected)
		for _, r := range sortedRecipes(selected) {
			for _, dep := range r.DependencyNames() {
				d := r.Dependencies[dep]
				c, err := semver.NewConstraint(d.VersionRequirement)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: dependency %s has VersionRequirement %q, which is not a range: %w", r.Name, r.Version, dep, d.VersionRequirement, err))
					continue
				}
				reqs[dep] = append(reqs[dep], requirement{by: r.Name + " " + r.Version, groups: reached[r.Name], rng: d.VersionRequirement, c: c, soft: d.Type == recipe.Soft})
			}
		}
		next := map[string]*recipe.Recipe{}
		for _, name := range slices.Sorted(maps.Keys(reqs)) {
			if builtin != nil {
				provided, err := builtin(name)
				if provided {
					continue // the nucleus runs it
				}
				if err != nil && !allSoft(reqs[name]) {
					errs = append(errs, fmt.Errorf("%s: %w", requirers(reqs[name]), err))
					continue
				}
			}
			if len(cat[name]) == 0 && allSoft(reqs[name]) {
				continue // an optional dependency nobody offers
			}
			pick, err := pickHighest(name, reqs[name], cat[name])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			next[name] = pick
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		if sameSelection(selected, next) {
			return next, nil
		}
		selected = next
	}
	return nil, fmt.Errorf("%w: versions did not settle after %d rounds; pin the dependencies' versions more tightly", ErrConflict, maxResolveRounds)
}

// requirers names who requires a component, for an error.
func requirers(reqs []requirement) string {
	var by []string
	for _, q := range reqs {
		by = append(by, q.by)
	}
	sort.Strings(by)
	return "required by " + strings.Join(by, ", ")
}

func allSoft(reqs []requirement) bool {
	for _, q := range reqs {
		if !q.soft {
			return false
		}
	}
	return true
}

func pickHighest(name string, reqs []requirement, available []*recipe.Recipe) (*recipe.Recipe, error) {
	var best *recipe.Recipe
	for _, r := range available {
		v := r.SemVer()
		ok := true
		for _, q := range reqs {
			if !q.c.Check(v) {
				ok = false
				break
			}
		}
		if ok && (best == nil || v.GreaterThan(best.SemVer())) {
			best = r
		}
	}
	if best != nil {
		return best, nil
	}
	var by []string
	for _, q := range reqs {
		line := fmt.Sprintf("%s requires %s", q.by, q.rng)
		if len(q.groups) > 0 {
			line += " (deployed by group " + strings.Join(q.groups, ", group ") + ")"
		}
		by = append(by, line)
	}
	sort.Strings(by)
	var versions []string
	for _, r := range available {
		versions = append(versions, r.Version)
	}
	sort.Strings(versions)
	have := "no version of it"
	if len(versions) > 0 {
		have = "versions " + strings.Join(versions, ", ")
	}
	return nil, fmt.Errorf("%w: %s: %s; the recipes offer %s: add a version every requirer allows or change a requirement",
		ErrConflict, name, strings.Join(by, "; "), have)
}

// groupsReaching returns, for each selected component, the groups whose
// roots bring it (as a root or a dependency, transitively), sorted: a
// conflict between components of two groups names both groups.
func groupsReaching(roots map[string][]Root, selected map[string]*recipe.Recipe) map[string][]string {
	out := map[string][]string{}
	byGroup := map[string][]string{}
	for name, rs := range roots {
		for _, r := range rs {
			byGroup[r.Group] = append(byGroup[r.Group], name)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		seen := map[string]bool{}
		todo := slices.Clone(byGroup[g])
		for len(todo) > 0 {
			name := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			if seen[name] {
				continue
			}
			seen[name] = true
			out[name] = append(out[name], g)
			if r := selected[name]; r != nil {
				todo = append(todo, r.DependencyNames()...)
			}
		}
	}
	return out
}

func sameSelection(a, b map[string]*recipe.Recipe) bool {
	if len(a) != len(b) {
		return false
	}
	for name, r := range a {
		if o, ok := b[name]; !ok || o.Version != r.Version {
			return false
		}
	}
	return true
}

func sortedRecipes(m map[string]*recipe.Recipe) []*recipe.Recipe {
	out := make([]*recipe.Recipe, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}
