package deployment

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/strictjson"
)

// ParseMerge parses greengrass-cli --merge arguments, each Name=Version,
// into name → version. A name given twice is an error unless with the same
// version.
func ParseMerge(args []string) (map[string]string, error) {
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

// ParseUpdateConfig parses greengrass-cli --update-config, a JSON object of
// component name → {"MERGE": {...}, "RESET": ["/pointer", ...]}. MERGE and
// RESET are matched without regard to case, so the document spellings merge
// and reset work too; two spellings of one in the same object are an error.
func ParseUpdateConfig(s string) (map[string]ConfigurationUpdate, error) {
	const root = "--update-config"
	tree, err := strictjson.Parse([]byte(s), root, root)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	out := map[string]ConfigurationUpdate{}
	f := d.object(root, tree, `of component name → {"MERGE": {...}, "RESET": [...]}`)
	if f != nil {
		for _, name := range slices.Sorted(maps.Keys(f.m)) {
			v, _, _ := f.take(name)
			path := strictjson.Key(root, name)
			if err := recipe.ValidateName(name); err != nil {
				d.errorf(path, "component name %v", err)
				continue
			}
			if u, ok := d.cliUpdate(path, v); ok {
				out[name] = u
			}
		}
	}
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseSystemLimits parses greengrass-cli --systemLimits, a JSON object of
// component name → {"cpus": 0.5, "memory": 102400} (memory in kilobytes),
// checked like a document's runWith systemResourceLimits.
func ParseSystemLimits(s string) (map[string]SystemResourceLimits, error) {
	const root = "--systemLimits"
	tree, err := strictjson.Parse([]byte(s), root, root)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	out := map[string]SystemResourceLimits{}
	if f := d.object(root, tree, `of component name → {"cpus": 0.5, "memory": 102400}`); f != nil {
		for _, name := range slices.Sorted(maps.Keys(f.m)) {
			v, _, _ := f.take(name)
			path := strictjson.Key(root, name)
			if err := recipe.ValidateName(name); err != nil {
				d.errorf(path, "component name %v", err)
				continue
			}
			out[name] = d.limits(path, v)
		}
	}
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseResourceLimits parses one systemResourceLimits object, {"cpus": 1,
// "memory": 262144}, given as flag.
func ParseResourceLimits(flag, s string) (SystemResourceLimits, error) {
	tree, err := strictjson.Parse([]byte(s), flag, flag)
	if err != nil {
		return SystemResourceLimits{}, err
	}
	d := &decoder{}
	l := d.limits(flag, tree)
	return l, d.errs.Err()
}

func (d *decoder) cliUpdate(path string, v any) (ConfigurationUpdate, bool) {
	f := d.object(path, v, `such as {"MERGE": {"port": 8080}, "RESET": ["/debug"]}`)
	if f == nil {
		return ConfigurationUpdate{}, false
	}
	keys := map[string]string{} // canonical → as written
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		lk := strings.ToLower(k)
		if prev, dup := keys[lk]; dup {
			d.errorf(strictjson.Key(path, k), "is given twice, as %q and %q (MERGE and RESET are not case-sensitive); keep one", prev, k)
			return ConfigurationUpdate{}, false
		}
		keys[lk] = k
	}
	u := d.configurationUpdate(f, func(name string) string {
		if k, ok := keys[name]; ok {
			return k
		}
		return name
	})
	f.rejectRest([]string{"MERGE", "RESET"})
	return u, true
}

// LocalRequest is what `sward deployment create` asks for, in
// greengrass-cli terms.
type LocalRequest struct {
	// Merge is --merge: components to add or move to a version.
	Merge map[string]string
	// Remove is --remove: components to drop from the LOCAL group.
	Remove []string
	// UpdateConfig is --update-config. A component here that is not in Merge
	// keeps the version the device runs, whichever group deployed it.
	UpdateConfig map[string]ConfigurationUpdate
	// RunWith is --runWith and --systemLimits, by component.
	RunWith map[string]RunWith
	// FailureHandling is --failure-handling-policy; empty means ROLLBACK.
	FailureHandling FailureHandling
}

// Local builds and validates a LOCAL-group document from r.
func Local(r LocalRequest) (*Document, error) {
	doc := New(LocalGroup)
	if r.FailureHandling != "" {
		doc.Policies.FailureHandling = r.FailureHandling
	}
	for name, version := range r.Merge {
		c := doc.Components[name]
		c.Version = version
		doc.Components[name] = c
	}
	for name, u := range r.UpdateConfig {
		c := doc.Components[name]
		c.ConfigurationUpdate = u
		doc.Components[name] = c
	}
	for name, rw := range r.RunWith {
		c := doc.Components[name]
		c.RunWith = rw
		doc.Components[name] = c
	}
	if len(r.Remove) > 0 {
		doc.ComponentsToRemove = append([]string(nil), r.Remove...)
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return doc, nil
}
