package recipe

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Cycle is a circular dependency among recipes: Components names each
// component along it and ends with the first one again (a → b → a).
type Cycle struct {
	Components []string
	// Files holds the file of each recipe on the cycle, in Components' order
	// (without the repeated last one).
	Files []string
}

// String renders the cycle as a → b → a.
func (c Cycle) String() string { return strings.Join(c.Components, " → ") }

// Error says what is wrong and how to fix it, so a Cycle can be reported
// like any other recipe error.
func (c Cycle) Error() string {
	return fmt.Sprintf("dependency cycle %s (%s); Greengrass refuses circular dependencies: remove one of these ComponentDependencies",
		c.String(), strings.Join(c.Files, ", "))
}

// Cycles returns the dependency cycles among recipes, each once, starting at
// its smallest component name, sorted. A recipe depends on another when it
// names it in ComponentDependencies and the other's version satisfies the
// VersionRequirement; dependencies on components not among recipes are not
// followed. A component depending on itself is refused by Parse already.
func Cycles(recipes []*Recipe) []Cycle {
	byName := map[string][]*Recipe{}
	for _, r := range recipes {
		byName[r.Name] = append(byName[r.Name], r)
	}
	edges := map[string][]string{}
	for name, versions := range byName {
		for _, r := range versions {
			for _, dep := range r.DependencyNames() {
				if dep == name || slices.Contains(edges[name], dep) {
					continue
				}
				if slices.ContainsFunc(byName[dep], func(d *Recipe) bool { return r.Dependencies[dep].Allows(d.SemVer()) }) {
					edges[name] = append(edges[name], dep)
				}
			}
		}
		slices.Sort(edges[name])
	}

	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var (
		path  []string
		found = map[string]Cycle{}
		visit func(string)
	)
	visit = func(name string) {
		state[name] = onPath
		path = append(path, name)
		for _, dep := range edges[name] {
			switch state[dep] {
			case unseen:
				visit(dep)
			case onPath:
				loop := path[slices.Index(path, dep):]
				c := canonical(loop, byName)
				found[c.String()] = c
			}
		}
		path = path[:len(path)-1]
		state[name] = done
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		if state[name] == unseen {
			visit(name)
		}
	}
	out := make([]Cycle, 0, len(found))
	for _, k := range slices.Sorted(maps.Keys(found)) {
		out = append(out, found[k])
	}
	return out
}

// canonical rotates a loop of names to start at its smallest one and closes it.
func canonical(loop []string, byName map[string][]*Recipe) Cycle {
	start := slices.Index(loop, slices.Min(loop))
	rotated := append(slices.Clone(loop[start:]), loop[:start]...)
	c := Cycle{Components: append(rotated, rotated[0])}
	for _, name := range rotated {
		files := make([]string, 0, len(byName[name]))
		for _, r := range byName[name] {
			files = append(files, r.File)
		}
		c.Files = append(c.Files, strings.Join(files, " or "))
	}
	return c
}
