package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/sward-iot/sward/edge/internal/errdetail"
)

// Apply returns the configuration a deployment's configurationUpdate leaves
// behind, with Greengrass semantics:
//
//  1. Start from current; nil means the component is new to the device, so
//     start from defaults (its recipe's DefaultConfiguration).
//  2. Run every reset pointer, in order: the value at the pointer becomes
//     its value in defaults, or is removed when defaults has no such path.
//     "" resets the whole configuration to defaults. A pointer that reaches
//     into a list is an error (ErrBadPointer): Greengrass resets whole lists
//     only. Restoring a nested default creates missing parent objects; a
//     parent that exists but is not an object is an error (ErrInvalidValue)
//     naming the pointer to reset instead.
//  3. Deep-merge merge: objects merge key by key; any other value, lists
//     included, replaces the old one whole, so merge may change a type
//     (object to scalar and back). A JSON null in merge sets the key to
//     null; it does not delete it (Greengrass keeps the key with a null
//     value; remove a key with a reset where no default exists).
//
// Apply does not add keys that defaults has and current lacks; that is
// Upgrade's job, which the deployment engine runs first (see Upgrade).
// Inputs are never modified and the result shares no memory with them.
// Values must be JSON values as encoding/json decodes them (any numeric Go
// type is accepted); anything else is ErrInvalidValue.
func Apply(current, defaults map[string]any, reset []string, merge map[string]any) (map[string]any, error) {
	for _, in := range []struct {
		name string
		v    map[string]any
	}{{"current configuration", current}, {"default configuration", defaults}, {"merge", merge}} {
		if err := validate(in.name, "", in.v); err != nil {
			return nil, err
		}
	}
	paths := make([][]string, len(reset))
	for i, p := range reset {
		tokens, err := parsePointer(p)
		if err != nil {
			return nil, err
		}
		paths[i] = tokens
	}

	start := current
	if start == nil {
		start = defaults
	}
	out := cloneObject(start)
	for i, tokens := range paths {
		if tokens == nil { // "": the whole document
			out = cloneObject(defaults)
			continue
		}
		if err := resetPath(out, defaults, reset[i], tokens); err != nil {
			return nil, err
		}
	}
	mergeInto(out, merge)
	return out, nil
}

// Upgrade carries a component's configuration over to a new component
// version whose recipe has different defaults, the way the Greengrass
// nucleus does (KernelConfigResolver merges the new defaults underneath the
// running configuration with the oldest possible timestamp):
//
//   - a key of newDefaults that current lacks is added with its new default;
//   - a value still equal to its old default (the deployment never changed
//     it) follows the new default, even if the type changes;
//   - a value a deployment changed (differs from oldDefaults) is kept;
//   - keys that newDefaults no longer has are kept: Upgrade never deletes.
//     A reset of that pointer removes them, as no default exists any more.
//
// Objects present in current and newDefaults are compared key by key; lists
// and scalars as whole values, numbers by value whatever their Go type.
// current nil returns a copy of newDefaults. With oldDefaults equal to
// newDefaults (same version redeployed) Upgrade only fills in missing keys.
//
// The deployment engine calls Upgrade first and then Apply with newDefaults,
// so resets restore the new version's defaults. Inputs are never modified;
// values that are not JSON types are copied as opaque leaves (Apply rejects
// them).
func Upgrade(current, oldDefaults, newDefaults map[string]any) map[string]any {
	if current == nil {
		return cloneObject(newDefaults)
	}
	out := cloneObject(current)
	upgradeInto(out, oldDefaults, newDefaults)
	return out
}

func upgradeInto(cur, old, nw map[string]any) {
	for k, nv := range nw {
		cv, ok := cur[k]
		if !ok {
			cur[k] = clone(nv)
			continue
		}
		ov, hadOld := old[k]
		cm, curIsObject := cv.(map[string]any)
		nm, newIsObject := nv.(map[string]any)
		if curIsObject && newIsObject {
			om, _ := ov.(map[string]any)
			upgradeInto(cm, om, nm)
			continue
		}
		if hadOld && equal(cv, ov) {
			cur[k] = clone(nv)
		}
	}
}

// parsePointer splits an RFC 6901 pointer into unescaped tokens; "" (the
// whole document) returns nil.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, &errdetail.Error{
			Msg:      fmt.Sprintf("config: reset pointer %q does not start with \"/\": write a JSON pointer such as \"/%s\", or \"\" to reset everything", p, p),
			Sentinel: ErrBadPointer,
		}
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, &errdetail.Error{
					Msg:      fmt.Sprintf("config: reset pointer %q has a bare \"~\": escape \"~\" as \"~0\" and \"/\" as \"~1\" in key names", p),
					Sentinel: ErrBadPointer,
				}
			}
		}
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// resetPath restores cfg at tokens to its value in defaults, or removes it.
func resetPath(cfg, defaults map[string]any, pointer string, tokens []string) error {
	def, hasDefault, err := lookup(defaults, pointer, tokens)
	if err != nil {
		return err
	}
	node := cfg
	for i, tok := range tokens[:len(tokens)-1] {
		child, ok := node[tok]
		switch c := child.(type) {
		case map[string]any:
			node = c
			continue
		case []any:
			return insideList(pointer, tokens[:i+1])
		}
		if !hasDefault {
			return nil // nothing there to remove
		}
		if ok {
			parent := escapePointer(tokens[:i+1])
			return &errdetail.Error{
				Msg: fmt.Sprintf("config: reset %q: %s is %s in the current configuration, not an object, so %q cannot be restored inside it: reset %q instead",
					pointer, parent, describe(child), pointer, parent),
				Sentinel: ErrInvalidValue,
			}
		}
		next := map[string]any{}
		node[tok] = next
		node = next
	}
	last := tokens[len(tokens)-1]
	if hasDefault {
		node[last] = clone(def)
	} else {
		delete(node, last)
	}
	return nil
}

// lookup finds tokens in defaults; a list on the way is an error.
func lookup(defaults map[string]any, pointer string, tokens []string) (any, bool, error) {
	var node any = defaults
	for i, tok := range tokens {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[tok]
			if !ok {
				return nil, false, nil
			}
			node = v
		case []any:
			return nil, false, insideList(pointer, tokens[:i])
		default:
			return nil, false, nil
		}
	}
	return node, true, nil
}

func insideList(pointer string, list []string) error {
	p := escapePointer(list)
	return &errdetail.Error{
		Msg:      fmt.Sprintf("config: reset %q points inside the list %s: Greengrass resets whole lists only, reset %q", pointer, p, p),
		Sentinel: ErrBadPointer,
	}
}

func escapePointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// mergeInto deep-merges src into dst: objects key by key, everything else
// replaces whole.
func mergeInto(dst, src map[string]any) {
	for k, sv := range src {
		sm, srcIsObject := sv.(map[string]any)
		dm, dstIsObject := dst[k].(map[string]any)
		if srcIsObject && dstIsObject {
			mergeInto(dm, sm)
			continue
		}
		dst[k] = clone(sv)
	}
}

// cloneObject deep-copies m; nil becomes an empty object, so a configuration
// is never nil.
func cloneObject(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = clone(v)
	}
	return out
}

// clone deep-copies objects and lists; other values are immutable or opaque.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneObject(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// validate checks that v holds JSON values only; where names the input and
// pointer is v's place in it, for the error.
func validate(where, pointer string, v any) error {
	switch v := v.(type) {
	case nil, bool, string, json.Number,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return nil
	case float64:
		return finite(where, pointer, v)
	case float32:
		return finite(where, pointer, float64(v))
	case map[string]any:
		for k, e := range v {
			if err := validate(where, pointer+escapePointer([]string{k}), e); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, e := range v {
			if err := validate(where, fmt.Sprintf("%s/%d", pointer, i), e); err != nil {
				return err
			}
		}
		return nil
	}
	return &errdetail.Error{
		Msg:      fmt.Sprintf("config: %s at %q holds a Go %T, not a JSON value: decode configuration with encoding/json (objects as map[string]any, lists as []any)", where, pointer, v),
		Sentinel: ErrInvalidValue,
	}
}

func finite(where, pointer string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return &errdetail.Error{
			Msg:      fmt.Sprintf("config: %s at %q is %v, which JSON cannot carry: use a finite number or a string", where, pointer, f),
			Sentinel: ErrInvalidValue,
		}
	}
	return nil
}

// equal compares JSON values; numbers compare by value whatever their Go
// type, as stored configuration comes back as float64.
func equal(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case nil, bool, string:
		return a == b
	}
	return false // opaque values are never equal: Upgrade keeps them
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// describe names a value's JSON type for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	if _, ok := number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}
