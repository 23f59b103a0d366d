package recipe

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Vars are the values recipe variables expand to for one component.
type Vars struct {
	// Config is the component's effective configuration, a map[string]any
	// tree as encoding/json decodes it.
	Config any
	// Paths and the thing name; an empty one leaves its variable as written.
	ArtifactsPath, DecompressedPath, WorkPath, KernelRootPath, ThingName string
	// Deps holds the direct dependencies' values, keyed by component name.
	// Only Config, ArtifactsPath, DecompressedPath and WorkPath are used.
	Deps map[string]*Vars
}

// Interpolate expands the recipe variables in s:
//
//	{configuration:/json/pointer}        the component's configuration value
//	{artifacts:path} {artifacts:decompressedPath} {work:path}
//	{kernel:rootPath} {iot:thingName}
//	{Dep:configuration:/x} {Dep:artifacts:path}
//	{Dep:artifacts:decompressedPath} {Dep:work:path}   for direct dependencies
//
// A configuration string is inserted as is, numbers and booleans as text,
// null as "null", objects and lists as JSON. A variable that cannot be
// resolved (unknown name, missing pointer, unknown dependency, empty value)
// is left as written, as Greengrass does.
func Interpolate(s string, v *Vars) string {
	if v == nil || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			break
		}
		closing := strings.IndexByte(s[open+1:], '}')
		if closing < 0 {
			break
		}
		inner := s[open+1 : open+1+closing]
		if val, ok := v.lookup(inner); ok {
			b.WriteString(s[:open])
			b.WriteString(val)
			s = s[open+closing+2:]
			continue
		}
		// Not a variable: keep the brace and look for one further on, so
		// "{{configuration:/x}}" still expands its inner variable.
		b.WriteString(s[:open+1])
		s = s[open+1:]
	}
	b.WriteString(s)
	return b.String()
}

// lookup resolves the text between braces.
func (v *Vars) lookup(inner string) (string, bool) {
	if strings.ContainsAny(inner, "{\n") {
		return "", false
	}
	if val, ok, own := v.own(inner); own {
		return val, ok
	}
	dep, rest, found := strings.Cut(inner, ":")
	if !found {
		return "", false
	}
	dv := v.Deps[dep]
	if dv == nil {
		return "", false
	}
	switch {
	case strings.HasPrefix(rest, "configuration:"):
		return configValue(dv.Config, strings.TrimPrefix(rest, "configuration:"))
	case rest == "artifacts:path":
		return nonEmpty(dv.ArtifactsPath)
	case rest == "artifacts:decompressedPath":
		return nonEmpty(dv.DecompressedPath)
	case rest == "work:path":
		return nonEmpty(dv.WorkPath)
	}
	return "", false
}

// own resolves the component's own variables; own is false when inner is not
// one of them (and may name a dependency).
func (v *Vars) own(inner string) (val string, ok, own bool) {
	switch {
	case strings.HasPrefix(inner, "configuration:"):
		val, ok = configValue(v.Config, strings.TrimPrefix(inner, "configuration:"))
		return val, ok, true
	case inner == "artifacts:path":
		val, ok = nonEmpty(v.ArtifactsPath)
	case inner == "artifacts:decompressedPath":
		val, ok = nonEmpty(v.DecompressedPath)
	case inner == "work:path":
		val, ok = nonEmpty(v.WorkPath)
	case inner == "kernel:rootPath":
		val, ok = nonEmpty(v.KernelRootPath)
	case inner == "iot:thingName":
		val, ok = nonEmpty(v.ThingName)
	default:
		return "", false, false
	}
	return val, ok, true
}

func nonEmpty(s string) (string, bool) { return s, s != "" }

// configValue renders the value at an RFC 6901 pointer into config.
func configValue(config any, pointer string) (string, bool) {
	if config == nil {
		return "", false
	}
	node, ok := Pointer(config, pointer)
	if !ok {
		return "", false
	}
	switch n := node.(type) {
	case string:
		return n, true
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(n), true
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(n), 'f', -1, 32), true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return fmt.Sprint(n), true
	}
	out, err := json.Marshal(node)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// Pointer returns the value at an RFC 6901 JSON pointer in a tree of
// map[string]any and []any. "" is the whole tree; ok is false when the
// pointer is malformed or leads nowhere.
func Pointer(tree any, pointer string) (any, bool) {
	if pointer == "" {
		return tree, true
	}
	if pointer[0] != '/' {
		return nil, false
	}
	node := tree
	for _, token := range strings.Split(pointer[1:], "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case map[string]any:
			next, ok := n[token]
			if !ok {
				return nil, false
			}
			node = next
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(n) || (len(token) > 1 && token[0] == '0') || token[0] == '+' {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}

// Interpolate returns a copy of the lifecycle with recipe variables expanded
// in every script, skip-check argument and environment value.
func (l Lifecycle) Interpolate(v *Vars) Lifecycle {
	out := Lifecycle{Setenv: interpolateEnv(l.Setenv, v)}
	for _, s := range []struct {
		src *Step
		dst **Step
	}{
		{l.Bootstrap, &out.Bootstrap}, {l.Install, &out.Install}, {l.Startup, &out.Startup}, {l.Run, &out.Run},
		{l.Shutdown, &out.Shutdown}, {l.Recover, &out.Recover}, {l.Uninstall, &out.Uninstall},
	} {
		if s.src == nil {
			continue
		}
		step := *s.src
		step.Script = Interpolate(step.Script, v)
		if step.Skipif != nil {
			step.Skipif = &Skipif{Kind: step.Skipif.Kind, Arg: Interpolate(step.Skipif.Arg, v)}
		}
		step.Setenv = interpolateEnv(step.Setenv, v)
		*s.dst = &step
	}
	return out
}

func interpolateEnv(env map[string]string, v *Vars) map[string]string {
	if env == nil {
		return nil
	}
	out := make(map[string]string, len(env))
	for k, val := range env {
		out[k] = Interpolate(val, v)
	}
	return out
}

// InterpolateConfiguration returns a copy of config with the recipe
// variables in its string values expanded, recursively through objects and
// lists, as the Greengrass nucleus does when its interpolateComponentConfiguration
// option is on. As there, only the system variables expand — {artifacts:path},
// {artifacts:decompressedPath}, {work:path}, {kernel:rootPath}, {iot:thingName}
// and their {Dep:…} forms for direct dependencies — while configuration
// variables ({configuration:/x}, {Dep:configuration:/x}) stay as written.
// Keys are never changed, and neither is config.
func InterpolateConfiguration(config map[string]any, v *Vars) map[string]any {
	if config == nil {
		return nil
	}
	sys := v.withoutConfiguration()
	return interpolateValue(config, sys).(map[string]any)
}

// withoutConfiguration copies v without any configuration, so that
// configuration variables stay as written.
func (v *Vars) withoutConfiguration() *Vars {
	if v == nil {
		return nil
	}
	out := *v
	out.Config = nil
	out.Deps = make(map[string]*Vars, len(v.Deps))
	for name, dv := range v.Deps {
		out.Deps[name] = dv.withoutConfiguration()
	}
	return &out
}

func interpolateValue(value any, v *Vars) any {
	switch val := value.(type) {
	case string:
		return Interpolate(val, v)
	case map[string]any:
		out := make(map[string]any, len(val))
		for k, e := range val {
			out[k] = interpolateValue(e, v)
		}
		return out
	case []any:
		out := make([]any, len(val))
		for i, e := range val {
			out[i] = interpolateValue(e, v)
		}
		return out
	}
	return value
}
