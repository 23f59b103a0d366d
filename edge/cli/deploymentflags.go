package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/strictjson"
)

// localRequest is what `sward deployment create` asks for, in
// greengrass-cli terms.
type localRequest struct {
	// merge is --merge: components to add or move to a version.
	merge map[string]string
	// remove is --remove: components to drop from the LOCAL group.
	remove []string
	// updateConfig is --update-config. A component here that is not in
	// merge keeps the version the device runs, whichever group deployed it.
	updateConfig map[string]ddoc.ConfigurationUpdate
	// runWith is --systemLimits, by component.
	runWith map[string]ddoc.RunWith
	// failureHandling is --failure-handling-policy; empty means ROLLBACK.
	failureHandling ddoc.FailureHandling
}

// localDocument builds and validates the LOCAL-group document r asks for.
func localDocument(r localRequest) (*ddoc.Document, error) {
	doc := ddoc.New(ddoc.LocalGroup)
	if r.failureHandling != "" {
		doc.Policies.FailureHandling = r.failureHandling
	}
	for name, version := range r.merge {
		c := doc.Components[name]
		c.Version = version
		doc.Components[name] = c
	}
	for name, u := range r.updateConfig {
		c := doc.Components[name]
		c.ConfigurationUpdate = u
		doc.Components[name] = c
	}
	for name, rw := range r.runWith {
		c := doc.Components[name]
		c.RunWith = rw
		doc.Components[name] = c
	}
	if len(r.remove) > 0 {
		doc.ComponentsToRemove = append([]string(nil), r.remove...)
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return doc, nil
}

// parseMerge parses --merge arguments, each Name=Version, into name →
// version. A name given twice is an error unless with the same version.
func parseMerge(args []string) (map[string]string, error) {
	out := map[string]string{}
	var p strictjson.Problems
	for _, arg := range args {
		path := fmt.Sprintf("--merge %q", strictjson.Truncate(arg))
		name, version, ok := strings.Cut(arg, "=")
		if !ok {
			p.Add(path, "has no '='; write Name=Version, such as com.example.Hello=1.0.0")
			continue
		}
		if err := recipe.ValidateName(name); err != nil {
			p.Add(path, "component name %v", err)
			continue
		}
		if _, err := recipe.ParseVersion(version); err != nil {
			p.Add(path, "version %v", err)
			continue
		}
		if prev, dup := out[name]; dup && prev != version {
			p.Add(path, "%s is also merged at version %s; give each component once", name, prev)
			continue
		}
		out[name] = version
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseUpdateConfig parses --update-config, a JSON object of component name
// → {"MERGE": {...}, "RESET": ["/pointer", ...]} (ddoc.ConfigurationUpdateFrom).
func parseUpdateConfig(s string) (map[string]ddoc.ConfigurationUpdate, error) {
	return perComponent("--update-config", s, `of component name → {"MERGE": {...}, "RESET": [...]}`, ddoc.ConfigurationUpdateFrom)
}

// parseSystemLimits parses --systemLimits, a JSON object of component name
// → {"cpus": 0.5, "memory": 102400} (memory in kilobytes), checked like a
// document's runWith systemResourceLimits.
func parseSystemLimits(s string) (map[string]ddoc.SystemResourceLimits, error) {
	return perComponent("--systemLimits", s, `of component name → {"cpus": 0.5, "memory": 102400}`, ddoc.ResourceLimitsFrom)
}

// parseResourceLimits parses one systemResourceLimits object, {"cpus": 1,
// "memory": 262144}, given as flag.
func parseResourceLimits(flag, s string) (ddoc.SystemResourceLimits, error) {
	tree, err := strictjson.Parse([]byte(s), flag, flag)
	if err != nil {
		return ddoc.SystemResourceLimits{}, err
	}
	return ddoc.ResourceLimitsFrom(flag, tree)
}

// perComponent parses flag's value s, a JSON object of component name →
// value (shape says how it looks), decoding each value with each. Every
// problem of every component is reported, together.
func perComponent[T any](flag, s, shape string, each func(path string, v any) (T, error)) (map[string]T, error) {
	tree, err := strictjson.Parse([]byte(s), flag, flag)
	if err != nil {
		return nil, err
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return nil, &ddoc.FieldError{Path: flag, Msg: fmt.Sprintf("is %s; it must be an object %s", strictjson.Describe(tree), shape), Err: ddoc.ErrInvalid}
	}
	out := map[string]T{}
	var p strictjson.Problems
	for _, name := range slices.Sorted(maps.Keys(m)) {
		path := strictjson.Key(flag, name)
		if err := recipe.ValidateName(name); err != nil {
			p.Add(path, "component name %v", err)
			continue
		}
		v, err := each(path, m[name])
		if err != nil {
			p.Merge(err)
			continue
		}
		out[name] = v
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
