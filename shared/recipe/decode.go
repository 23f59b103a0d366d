package recipe

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/sward-iot/sward/shared/strictjson"
)

const (
	// FormatVersion is the only RecipeFormatVersion Greengrass defines.
	FormatVersion = "2020-01-25"

	// MaxRecipeSize is the largest recipe Greengrass accepts (16 KB).
	MaxRecipeSize = 16384

	// MaxNameLength is Greengrass's limit on component names.
	MaxNameLength = 128

	// MaxVersionLength is Greengrass's limit on the length of a component version.
	MaxVersionLength = 64

	// maxVersionNumber is Greengrass's limit on each of major, minor and patch
	// (six digits).
	maxVersionNumber = 999999
)

// Component types Greengrass defines. The service sets the type; authors
// rarely write it, so a recipe without ComponentType is TypeGeneric.
const (
	TypeGeneric = "aws.greengrass.generic"
	TypeLambda  = "aws.greengrass.lambda"
	TypePlugin  = "aws.greengrass.plugin"
	TypeNucleus = "aws.greengrass.nucleus"
)

var componentTypes = []string{TypeGeneric, TypeLambda, TypePlugin, TypeNucleus}

// namePattern is the character set Greengrass allows in component names.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// decoder walks a parsed tree, building the recipe and collecting every
// problem it finds instead of stopping at the first.
type decoder struct {
	file     string
	errs     []error
	seen     map[string]bool // error and warning texts already recorded
	warnings []string
	// note is appended to messages while decoding the global lifecycle, so an
	// error there says which manifest's selections produced it.
	note string
}

func (d *decoder) errorf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...) + d.note
	e := &FieldError{File: d.file, Path: path, Msg: msg, Err: ErrInvalid}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if key := "E" + e.Error(); !d.seen[key] {
		d.seen[key] = true
		d.errs = append(d.errs, e)
	}
}

func (d *decoder) warnf(path, format string, args ...any) {
	w := fmt.Sprintf("%s: %s: %s", d.file, path, fmt.Sprintf(format, args...)+d.note)
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if key := "W" + w; !d.seen[key] {
		d.seen[key] = true
		d.warnings = append(d.warnings, w)
	}
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

func keyed(parent, key string) string { return fmt.Sprintf("%s[%s]", parent, key) }

// fields gives case-insensitive access to an object's keys, as Greengrass
// matches recipe field names regardless of case, and remembers which keys
// were used so the rest can be reported.
type fields struct {
	d    *decoder
	path string
	m    map[string]any
	fold map[string]string // lower-case key → key as written
	used map[string]bool
}

// object returns the fields of v, or nil (after recording an error) when v
// is not an object.
func (d *decoder) object(path string, v any, what string) *fields {
	m, ok := v.(map[string]any)
	if !ok {
		if what != "" {
			what = " " + what
		}
		d.errorf(path, "is %s; it must be an object%s", describe(v), what)
		return nil
	}
	f := &fields{d: d, path: path, m: m, fold: make(map[string]string, len(m)), used: map[string]bool{}}
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		lk := strings.ToLower(k)
		if prev, dup := f.fold[lk]; dup {
			d.errorf(join(path, k), "is given twice, as %q and %q (field names are not case-sensitive); keep one", prev, k)
			continue
		}
		f.fold[lk] = k
	}
	return f
}

// take returns the value of the named field, matched case-insensitively.
func (f *fields) take(name string) (any, bool) {
	k, ok := f.fold[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	f.used[k] = true
	return f.m[k], true
}

// ignoreRest records a warning for every key that take did not ask for.
func (f *fields) ignoreRest(expected string) {
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		if !f.used[k] {
			f.d.warnf(join(f.path, k), "unknown field ignored (known fields: %s)", expected)
		}
	}
}

// scalar returns the text of a string, number or boolean; ok is false (and
// nothing is recorded) for objects, lists and null.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case number:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// text reads an optional text field. Numbers and booleans are taken as their
// text, because YAML authors write ComponentPublisher: 3M unquoted.
func (f *fields) text(name, path string) string {
	v, ok := f.take(name)
	if !ok || v == nil {
		return ""
	}
	s, ok := scalar(v)
	if !ok {
		f.d.errorf(path, "is %s; write it as text", describe(v))
	}
	return s
}

func (d *decoder) recipe(top map[string]any) *Recipe {
	r := &Recipe{File: d.file}
	f := d.object("", top, "")
	if f == nil {
		return r
	}

	if v, ok := f.take("RecipeFormatVersion"); !ok || v == nil {
		d.errorf("RecipeFormatVersion", "is missing; add RecipeFormatVersion: %s (the only format Greengrass defines)", FormatVersion)
	} else if s, _ := scalar(v); s != FormatVersion {
		d.errorf("RecipeFormatVersion", "is %s; the only supported format is %s", describe(v), FormatVersion)
	} else {
		r.FormatVersion = s
	}

	r.Name = d.componentName("ComponentName", f)
	r.Version, r.semver = d.componentVersion(f)
	r.Description = f.text("ComponentDescription", "ComponentDescription")
	r.Publisher = f.text("ComponentPublisher", "ComponentPublisher")
	r.Source = f.text("ComponentSource", "ComponentSource")
	r.Type = d.componentType(f.text("ComponentType", "ComponentType"))
	r.DefaultConfiguration = d.configuration(f)
	r.Dependencies = d.dependencies(f, r.Name)

	if v, ok := f.take("Lifecycle"); ok && v != nil {
		if lf := d.object("Lifecycle", v, "lifecycle steps, or selection keys holding them"); lf != nil {
			r.GlobalLifecycle = plain(lf.m).(map[string]any)
		}
	}
	r.Manifests = d.manifests(f)
	d.checkGlobalLifecycle(r)

	f.ignoreRest("RecipeFormatVersion, ComponentName, ComponentVersion, ComponentDescription, ComponentPublisher, ComponentType, ComponentSource, ComponentConfiguration, ComponentDependencies, Manifests, Lifecycle")
	r.Warnings = d.warnings
	return r
}

func (d *decoder) componentName(path string, f *fields) string {
	v, ok := f.take("ComponentName")
	if !ok || v == nil {
		d.errorf(path, "is missing; add ComponentName: com.example.MyComponent (reverse-DNS style)")
		return ""
	}
	s, ok := scalar(v)
	if !ok {
		d.errorf(path, "is %s; write the component name as text", describe(v))
		return ""
	}
	if err := ValidateName(s); err != nil {
		d.errorf(path, "%v", err)
	}
	return s
}

// ValidateName reports whether Greengrass would accept name as a component
// name: 1 to 128 characters of letters, digits, '.', '-' and '_'.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is empty; give the component a name such as com.example.MyComponent")
	case len(name) > MaxNameLength:
		return fmt.Errorf("is %d characters long; Greengrass allows at most %d", len(name), MaxNameLength)
	case !namePattern.MatchString(name):
		return fmt.Errorf("%q has characters Greengrass refuses; use only letters, digits, '.', '-' and '_'", strictjson.Truncate(name))
	case name == "." || name == "..":
		// The name is a folder in the store, work and logs: "." or ".."
		// would be the parent or the root itself.
		return fmt.Errorf("%q is not a name but a path; give the component a name such as com.example.MyComponent", name)
	}
	return nil
}

func (d *decoder) componentVersion(f *fields) (string, *semver.Version) {
	const path = "ComponentVersion"
	v, ok := f.take("ComponentVersion")
	if !ok || v == nil {
		d.errorf(path, "is missing; add ComponentVersion: '1.0.0' (semantic version MAJOR.MINOR.PATCH)")
		return "", nil
	}
	s, ok := scalar(v)
	if !ok {
		d.errorf(path, "is %s; write the version as text like '1.0.0'", describe(v))
		return "", nil
	}
	sv, err := ParseVersion(s)
	if err != nil {
		d.errorf(path, "%v", err)
		return s, nil
	}
	return s, sv
}

// ParseVersion parses a component version as Greengrass accepts it: a strict
// semantic version MAJOR.MINOR.PATCH with optional -prerelease and +build, at
// most 64 characters, each number at most six digits.
func ParseVersion(s string) (*semver.Version, error) {
	if len(s) > MaxVersionLength {
		return nil, fmt.Errorf("is %d characters long; Greengrass allows at most %d", len(s), MaxVersionLength)
	}
	sv, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version (%v); write MAJOR.MINOR.PATCH such as 1.0.0, optionally with -prerelease or +build", strictjson.Truncate(s), err)
	}
	if sv.Major() > maxVersionNumber || sv.Minor() > maxVersionNumber || sv.Patch() > maxVersionNumber {
		return nil, fmt.Errorf("%q has a number over %d; Greengrass allows at most six digits for major, minor and patch", s, maxVersionNumber)
	}
	return sv, nil
}

func (d *decoder) componentType(s string) string {
	if s == "" {
		return TypeGeneric
	}
	for _, t := range componentTypes {
		if strings.EqualFold(s, t) {
			return t
		}
	}
	d.errorf("ComponentType", "%q is not a component type; use one of %s, or leave it out (Greengrass sets it)", strictjson.Truncate(s), strings.Join(componentTypes, ", "))
	return s
}

func (d *decoder) configuration(f *fields) map[string]any {
	v, ok := f.take("ComponentConfiguration")
	if !ok || v == nil {
		return map[string]any{}
	}
	cf := d.object("ComponentConfiguration", v, "with a DefaultConfiguration object")
	if cf == nil {
		return map[string]any{}
	}
	defer cf.ignoreRest("DefaultConfiguration")
	dv, ok := cf.take("DefaultConfiguration")
	if !ok || dv == nil {
		return map[string]any{}
	}
	const path = "ComponentConfiguration.DefaultConfiguration"
	m, ok := dv.(map[string]any)
	if !ok {
		d.errorf(path, "is %s; it must be an object of configuration keys", describe(dv))
		return map[string]any{}
	}
	if depth := ConfigDepth(m); depth > MaxConfigDepth {
		d.errorf(path, "nests %d objects deep; configurations are at most %d deep, flatten it", depth, MaxConfigDepth)
		return map[string]any{}
	}
	d.checkNumbers(path, m)
	return plain(m).(map[string]any)
}

// checkNumbers refuses numbers JSON cannot carry (YAML .inf and .nan):
// configuration travels as JSON.
func (d *decoder) checkNumbers(path string, v any) {
	switch v := v.(type) {
	case number:
		if _, ok := v.float(); !ok {
			d.errorf(path, "%s is not a finite number; configuration is JSON, write a finite number or quote it", v)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			d.checkNumbers(join(path, k), v[k])
		}
	case []any:
		for i, e := range v {
			d.checkNumbers(index(path, i), e)
		}
	}
}

func (d *decoder) dependencies(f *fields, self string) map[string]Dependency {
	deps := map[string]Dependency{}
	v, ok := f.take("ComponentDependencies")
	if !ok || v == nil {
		return deps
	}
	df := d.object("ComponentDependencies", v, "keyed by component name")
	if df == nil {
		return deps
	}
	for _, name := range slices.Sorted(maps.Keys(df.m)) {
		path := keyed("ComponentDependencies", name)
		if err := ValidateName(name); err != nil {
			d.errorf(path, "dependency name %v", err)
		} else if name == self {
			d.errorf(path, "is the component itself; a component cannot depend on itself (Greengrass refuses circular dependencies): remove this dependency")
		}
		pf := d.object(path, df.m[name], "with VersionRequirement and optional DependencyType")
		if pf == nil {
			continue
		}
		var dep Dependency
		if rv, ok := pf.take("VersionRequirement"); !ok || rv == nil {
			d.errorf(join(path, "VersionRequirement"), "is missing; add a version range such as ^1.0.0 or >=1.0.0 <2.0.0")
		} else if s, ok := scalar(rv); !ok {
			d.errorf(join(path, "VersionRequirement"), "is %s; write a version range such as ^1.0.0", describe(rv))
		} else if _, err := semver.NewConstraint(s); err != nil {
			d.errorf(join(path, "VersionRequirement"), "%q is not a version range (%v); write an npm-style range such as ^1.0.0, ~1.2.0, 1.x or >=1.0.0 <2.0.0", strictjson.Truncate(s), err)
		} else {
			dep.VersionRequirement = s
		}
		switch t := strings.ToUpper(pf.text("DependencyType", join(path, "DependencyType"))); t {
		case "", string(Hard):
			dep.Type = Hard
		case string(Soft):
			dep.Type = Soft
		default:
			d.errorf(join(path, "DependencyType"), "%q is not a dependency type; use HARD (the default: restart with the dependency) or SOFT", strictjson.Truncate(t))
		}
		pf.ignoreRest("VersionRequirement, DependencyType")
		deps[name] = dep
	}
	return deps
}

func (d *decoder) manifests(f *fields) []Manifest {
	v, ok := f.take("Manifests")
	if !ok || v == nil {
		d.errorf("Manifests", "is missing; add at least one manifest (a manifest without Platform matches every device)")
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		d.errorf("Manifests", "is %s; it must be a list of manifests", describe(v))
		return nil
	}
	if len(list) == 0 {
		d.errorf("Manifests", "is empty; add at least one manifest (a manifest without Platform matches every device)")
		return nil
	}
	out := make([]Manifest, 0, len(list))
	for i, e := range list {
		out = append(out, d.manifest(index("Manifests", i), e))
	}
	return out
}

func (d *decoder) manifest(path string, v any) Manifest {
	var m Manifest
	if v == nil {
		d.errorf(path, "is empty (null); remove the empty list item or give it a Platform and Lifecycle")
		return m
	}
	f := d.object(path, v, "with Platform, Lifecycle, Selections and Artifacts")
	if f == nil {
		return m
	}
	m.Name = f.text("Name", join(path, "Name"))
	m.Platform = d.platform(join(path, "Platform"), f)
	if lv, ok := f.take("Lifecycle"); ok && lv != nil {
		if lm, ok := lv.(map[string]any); !ok {
			d.errorf(join(path, "Lifecycle"), "is %s; it must be an object of lifecycle steps such as Run", describe(lv))
		} else if len(lm) > 0 {
			// An empty manifest lifecycle means "use the global one", as in Greengrass.
			l := d.lifecycle(join(path, "Lifecycle"), lm)
			m.Lifecycle = &l
		}
	}
	m.Selections = d.selections(join(path, "Selections"), f)
	m.Artifacts = d.artifacts(join(path, "Artifacts"), f)
	f.ignoreRest("Name, Platform, Lifecycle, Selections, Artifacts")
	return m
}

func (d *decoder) selections(path string, f *fields) []string {
	v, ok := f.take("Selections")
	if !ok || v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		v = []any{s} // one key written without list brackets
	}
	list, ok := v.([]any)
	if !ok {
		d.errorf(path, "is %s; it must be a list of selection keys such as [linux, all]", describe(v))
		return nil
	}
	var out []string
	for i, e := range list {
		s, ok := scalar(e)
		if !ok || s == "" {
			d.errorf(index(path, i), "is %s; a selection key is a non-empty word such as linux or all", describe(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// checkGlobalLifecycle validates the global lifecycle as each manifest that
// uses it would see it after selection.
func (d *decoder) checkGlobalLifecycle(r *Recipe) {
	if len(r.GlobalLifecycle) == 0 {
		return
	}
	selectors := r.selectors()
	used := false
	for i, m := range r.Manifests {
		if m.Lifecycle != nil {
			continue
		}
		used = true
		picked := m.selectionKeys()
		d.note = fmt.Sprintf(" (global lifecycle as selected by Manifests[%d] with Selections %v)", i, picked)
		if tree, ok := filterSelections(r.GlobalLifecycle, selectors, picked); ok {
			if lm, ok := tree.(map[string]any); ok {
				d.lifecycle("Lifecycle", lm)
			} else {
				d.errorf("Lifecycle", "selects %s; a selection key above the steps must hold an object of steps such as Run", describe(tree))
			}
		}
		d.note = ""
	}
	if !used && len(r.Manifests) > 0 {
		d.warnf("Lifecycle", "ignored: every manifest has its own Lifecycle")
	}
}
