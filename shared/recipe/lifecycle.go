package recipe

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sward-iot/sward/shared/strictjson"
)

// maxTimeout bounds a step's Timeout. Greengrass counts it in seconds; a value
// over a year is almost surely milliseconds written by mistake, and the bound
// keeps the time.Duration far from overflow.
const maxTimeout = 365 * 24 * time.Hour

// Lifecycle is the set of scripts that install, run and stop a component on
// one platform. A nil step is not defined.
type Lifecycle struct {
	// Setenv applies to every step; a step's own Setenv overrides it.
	Setenv map[string]string

	Bootstrap, Install, Startup, Run, Shutdown, Recover, Uninstall *Step
}

// Step is one lifecycle step.
type Step struct {
	Script            string
	RequiresPrivilege bool
	Skipif            *Skipif
	// Timeout is 0 when the recipe does not set one; the supervisor applies
	// the Greengrass default for the step.
	Timeout time.Duration
	Setenv  map[string]string

	// RequiresPrivilegeVar and TimeoutVar hold RequiresPrivilege and Timeout
	// as written when the recipe gives them as recipe variables, such as
	// "{configuration:/requiresPrivilege}", which Greengrass interpolates
	// from configuration before reading them. Until Lifecycle.Resolve fills
	// them in, RequiresPrivilege is false and Timeout 0.
	RequiresPrivilegeVar, TimeoutVar string
}

// Skipif is a step's skip check.
type Skipif struct {
	// Kind is "onpath" (skip when Arg is an executable on PATH) or "exists"
	// (skip when the file Arg exists).
	Kind string
	Arg  string
}

// Skip-check kinds.
const (
	SkipOnPath = "onpath"
	SkipExists = "exists"
)

// Steps returns the defined steps by name, in lifecycle order.
func (l Lifecycle) Steps() []NamedStep {
	var out []NamedStep
	for _, s := range []NamedStep{
		{"Bootstrap", l.Bootstrap}, {"Install", l.Install}, {"Startup", l.Startup}, {"Run", l.Run},
		{"Shutdown", l.Shutdown}, {"Recover", l.Recover}, {"Uninstall", l.Uninstall},
	} {
		if s.Step != nil {
			out = append(out, s)
		}
	}
	return out
}

// NamedStep pairs a step with its lifecycle name.
type NamedStep struct {
	Name string
	Step *Step
}

// Env returns the environment for the step: the lifecycle's Setenv overlaid
// with the step's own.
func (l Lifecycle) Env(s *Step) map[string]string {
	env := make(map[string]string, len(l.Setenv))
	for k, v := range l.Setenv {
		env[k] = v
	}
	if s != nil {
		for k, v := range s.Setenv {
			env[k] = v
		}
	}
	return env
}

const lifecycleFields = "Setenv, Bootstrap, Install, Startup, Run, Shutdown, Recover, Uninstall"

func (d *decoder) lifecycle(path string, m map[string]any) Lifecycle {
	var l Lifecycle
	f := d.object(path, m, "")
	if f == nil {
		return l
	}
	l.Setenv = d.setenv(join(path, "Setenv"), f)
	for _, s := range []struct {
		name string
		dst  **Step
	}{
		{"Bootstrap", &l.Bootstrap}, {"Install", &l.Install}, {"Startup", &l.Startup}, {"Run", &l.Run},
		{"Shutdown", &l.Shutdown}, {"Recover", &l.Recover}, {"Uninstall", &l.Uninstall},
	} {
		if v, ok := f.take(s.name); ok {
			*s.dst = d.step(join(path, s.name), v)
		}
	}
	if l.Startup != nil && l.Run != nil {
		d.errorf(path, "has both Startup and Run; keep Startup for a command that starts a background process and exits, or Run for a long-running foreground process")
	}
	f.ignoreRest(lifecycleFields)
	return l
}

func (d *decoder) step(path string, v any) *Step {
	switch v := v.(type) {
	case nil:
		return nil // "Shutdown:" with nothing after it: not defined
	case string:
		if strings.TrimSpace(v) == "" {
			d.errorf(path, "is an empty script; give the command to run or remove the step")
			return nil
		}
		return &Step{Script: v}
	case map[string]any:
	default:
		d.errorf(path, "is %s; write the script as text, or an object with Script and optional RequiresPrivilege, Skipif, Timeout, Setenv", describe(v))
		return nil
	}
	f := d.object(path, v, "")
	s := &Step{}
	if sv, ok := f.take("Script"); !ok || sv == nil {
		d.errorf(join(path, "Script"), "is missing; add Script with the command to run, or remove the step")
	} else if str, ok := sv.(string); !ok {
		d.errorf(join(path, "Script"), "is %s; write the command as text", describe(sv))
	} else if strings.TrimSpace(str) == "" {
		d.errorf(join(path, "Script"), "is empty; give the command to run or remove the step")
	} else {
		s.Script = str
	}
	if pv, ok := f.take("RequiresPrivilege"); ok && pv != nil {
		if hasVariable(pv) {
			s.RequiresPrivilegeVar = pv.(string)
		} else {
			s.RequiresPrivilege = d.boolean(join(path, "RequiresPrivilege"), pv)
		}
	}
	if sv, ok := f.take("Skipif"); ok && sv != nil {
		s.Skipif = d.skipif(join(path, "Skipif"), sv)
	}
	if tv, ok := f.take("Timeout"); ok && tv != nil {
		if hasVariable(tv) {
			s.TimeoutVar = tv.(string)
		} else {
			s.Timeout = d.timeout(join(path, "Timeout"), tv)
		}
	}
	s.Setenv = d.setenv(join(path, "Setenv"), f)
	f.ignoreRest("Script, RequiresPrivilege, Skipif, Timeout, Setenv")
	return s
}

func (d *decoder) boolean(path string, v any) bool {
	b, ok := parseBool(v)
	if !ok {
		d.errorf(path, "is %s; write true or false, or a recipe variable such as {configuration:/requiresPrivilege}", describe(v))
	}
	return b
}

// parseBool reads a boolean, or its text in any letter case.
func parseBool(v any) (b, ok bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// variablePattern matches one recipe variable, such as {configuration:/x}
// or {iot:thingName}: every variable has a namespace before a colon.
var variablePattern = regexp.MustCompile(`\{[^{}\n:]+:[^{}\n]*\}`)

// hasVariable reports whether v is text holding a recipe variable, to be
// resolved at deployment rather than read at parse time.
func hasVariable(v any) bool {
	s, ok := v.(string)
	return ok && variablePattern.MatchString(s)
}

func (d *decoder) skipif(path string, v any) *Skipif {
	s, ok := v.(string)
	if !ok {
		d.errorf(path, "is %s; write `onpath <executable>` or `exists <file>`", describe(v))
		return nil
	}
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), " ")
	kind, arg = strings.ToLower(kind), strings.TrimSpace(arg)
	if (kind != SkipOnPath && kind != SkipExists) || arg == "" {
		d.errorf(path, "%q is not a skip check; write `onpath <executable>` or `exists <file>`", strictjson.Truncate(s))
		return nil
	}
	return &Skipif{Kind: kind, Arg: arg}
}

func (d *decoder) timeout(path string, v any) time.Duration {
	t, err := parseTimeout(v)
	if err != nil {
		d.errorf(path, "%v", err)
	}
	return t
}

// parseTimeout reads a Timeout: a number of seconds, or its text.
func parseTimeout(v any) (time.Duration, error) {
	var secs float64
	ok := false
	switch v := v.(type) {
	case number:
		secs, ok = v.float()
	case float64:
		secs, ok = v, !math.IsInf(v, 0) && !math.IsNaN(v)
	case string:
		secs, ok = number(strings.TrimSpace(v)).float()
	}
	switch {
	case !ok:
		return 0, fmt.Errorf("is %s; write a number of seconds such as 60, or a recipe variable such as {configuration:/timeout}", describe(v))
	case secs < 0:
		return 0, fmt.Errorf("is negative; write a number of seconds such as 60, or leave it out for the default")
	case secs > maxTimeout.Seconds():
		return 0, fmt.Errorf("is %v seconds, over a year; Timeout is in seconds, not milliseconds", secs)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// Resolve returns a copy of the lifecycle whose RequiresPrivilege and
// Timeout written as recipe variables (RequiresPrivilegeVar, TimeoutVar)
// are interpolated with v and read, as Greengrass interpolates the whole
// lifecycle before reading them. A value that does not resolve to a boolean
// (RequiresPrivilege) or a number of seconds (Timeout) is an error naming
// the step, the field and the configuration keys it was read from; all
// such errors are joined. Other fields are left as they are.
func (l Lifecycle) Resolve(v *Vars) (Lifecycle, error) {
	out := l
	var errs []error
	for _, s := range []struct {
		name string
		dst  **Step
	}{
		{"Bootstrap", &out.Bootstrap}, {"Install", &out.Install}, {"Startup", &out.Startup}, {"Run", &out.Run},
		{"Shutdown", &out.Shutdown}, {"Recover", &out.Recover}, {"Uninstall", &out.Uninstall},
	} {
		src := *s.dst
		if src == nil || (src.RequiresPrivilegeVar == "" && src.TimeoutVar == "") {
			continue
		}
		step := *src
		if text := step.RequiresPrivilegeVar; text != "" {
			got := Interpolate(text, v)
			b, ok := parseBool(got)
			if !ok || keptVariable(text, got) {
				errs = append(errs, unresolved(s.name, "RequiresPrivilege", text, got, "true or false"))
			}
			step.RequiresPrivilege = b
		}
		if text := step.TimeoutVar; text != "" {
			got := Interpolate(text, v)
			t, err := parseTimeout(got)
			if err != nil || keptVariable(text, got) {
				errs = append(errs, unresolved(s.name, "Timeout", text, got, "a number of seconds such as 60"))
			}
			step.Timeout = t
		}
		*s.dst = &step
	}
	return out, joinErrs(errs)
}

// unresolved describes a step field whose recipe variables did not resolve
// to a value of its type.
func unresolved(step, field, text, got, want string) error {
	what := fmt.Sprintf("resolves to %q", strictjson.Truncate(got))
	if keptVariable(text, got) {
		what = "does not resolve (is the configuration key missing?)"
	}
	fix := "make it resolve to " + want
	if keys := VariableKeys(text); len(keys) > 0 {
		fix = fmt.Sprintf("set configuration key %s to %s", strings.Join(keys, ", "), want)
	}
	return &FieldError{
		Path: "Lifecycle." + step + "." + field,
		Msg:  fmt.Sprintf("%q %s; %s", strictjson.Truncate(text), what, fix),
		Err:  ErrUnresolved,
	}
}

// keptVariable reports whether interpolating text left one of its variables
// as written, which Interpolate does for a variable without a value.
func keptVariable(text, got string) bool {
	for _, v := range variablePattern.FindAllString(text, -1) {
		if strings.Contains(got, v) {
			return true
		}
	}
	return false
}

// VariableKeys returns the configuration keys the recipe variables in text
// read, as written: "/requiresPrivilege" for {configuration:/requiresPrivilege},
// "Dep:/x" for {Dep:configuration:/x}; other variables are left out.
func VariableKeys(text string) []string {
	var keys []string
	for _, m := range variablePattern.FindAllString(text, -1) {
		inner := m[1 : len(m)-1]
		if p, ok := strings.CutPrefix(inner, "configuration:"); ok {
			keys = append(keys, p)
		} else if dep, rest, ok := strings.Cut(inner, ":configuration:"); ok {
			keys = append(keys, dep+":"+rest)
		}
	}
	return keys
}

// setenv reads the Setenv field of f: an object of environment variables.
func (d *decoder) setenv(path string, f *fields) map[string]string {
	v, ok := f.take("Setenv")
	if !ok || v == nil {
		return nil
	}
	ef := d.object(path, v, "of environment variable names to values")
	if ef == nil {
		return nil
	}
	env := make(map[string]string, len(ef.m))
	for _, k := range slices.Sorted(maps.Keys(ef.m)) {
		p := join(path, k)
		if k == "" || strings.ContainsAny(k, "=\x00") {
			d.errorf(p, "is not an environment variable name; use a name without '=' such as MY_VAR")
			continue
		}
		val, ok := scalar(ef.m[k])
		if ef.m[k] == nil {
			val, ok = "", true
		}
		if !ok {
			d.errorf(p, "is %s; an environment variable value must be text", describe(ef.m[k]))
			continue
		}
		if strings.ContainsRune(val, 0) {
			d.errorf(p, "contains a NUL character, which no environment can hold; remove it")
			continue
		}
		env[k] = val
	}
	return env
}

// filterSelections resolves selection keys in a global lifecycle tree, as the
// Greengrass nucleus does. A mapping with any key in all is a choice: the value
// under the first of picked that it has is kept (filtered in turn), and the
// whole choice disappears when it has none of them. Other mappings keep every
// key, filtered recursively, and disappear when filtering empties them. So
// sections without selection keys apply to every manifest, and `all` picks
// the sections keyed `all`.
func filterSelections(v any, all map[string]bool, picked []string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, true
	}
	for k := range m {
		if !all[k] {
			continue
		}
		for _, p := range picked {
			if sub, ok := m[p]; ok {
				return filterSelections(sub, all, picked)
			}
		}
		return nil, false
	}
	out := make(map[string]any, len(m))
	for k, sub := range m {
		if fv, ok := filterSelections(sub, all, picked); ok {
			out[k] = fv
		}
	}
	if len(out) == 0 && len(m) > 0 {
		return nil, false
	}
	return out, true
}

// selectors returns every selection key the recipe's manifests use, plus all.
func (r *Recipe) selectors() map[string]bool {
	s := map[string]bool{SelectAll: true}
	for _, m := range r.Manifests {
		for _, k := range m.Selections {
			s[k] = true
		}
	}
	return s
}

// SelectAll is the selection key for global-lifecycle sections keyed `all`; a
// manifest without Selections picks it.
const SelectAll = "all"

// selectionKeys returns the manifest's selections, or [all] when it has none.
func (m Manifest) selectionKeys() []string {
	if len(m.Selections) == 0 {
		return []string{SelectAll}
	}
	return m.Selections
}

// lifecycleFor resolves the lifecycle of manifest i: its own, else the global
// lifecycle filtered by its selections.
func (r *Recipe) lifecycleFor(i int) (Lifecycle, error) {
	m := r.Manifests[i]
	if m.Lifecycle != nil {
		return *m.Lifecycle, nil
	}
	if len(r.GlobalLifecycle) == 0 {
		return Lifecycle{}, nil
	}
	tree, ok := filterSelections(r.GlobalLifecycle, r.selectors(), m.selectionKeys())
	lm, isMap := tree.(map[string]any)
	if !ok || !isMap {
		return Lifecycle{}, nil
	}
	d := &decoder{file: r.File, note: fmt.Sprintf(" (global lifecycle as selected by Manifests[%d])", i)}
	l := d.lifecycle("Lifecycle", lm)
	if len(d.errs) > 0 {
		return Lifecycle{}, joinErrs(d.errs)
	}
	return l, nil
}
