package config

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// obj decodes a JSON object literal; "null" gives nil, as for a component
// new to the device.
func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// sampleDefaults is a recipe's DefaultConfiguration with every shape the
// Greengrass guide discusses.
const sampleDefaults = `{
	"port": 8080,
	"mode": "auto",
	"nested": {"leaf": "d", "deeper": {"x": 1}},
	"list": ["a", "b"],
	"emptyList": [],
	"emptyObject": {},
	"nullDefault": null,
	"a/b": "slash",
	"t~n": "tilde"
}`

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		current  string // "" = nil: component new to the device
		defaults string
		reset    []string
		merge    string
		want     string
		wantErr  error
		wantMsg  string // substring of the error
	}{
		{
			name:     "new component without update gets its defaults",
			defaults: sampleDefaults,
			want:     sampleDefaults,
		},
		{
			name:     "new component: merge applies on top of defaults",
			defaults: `{"port": 8080, "nested": {"leaf": "d"}}`,
			merge:    `{"port": 9090, "nested": {"extra": true}}`,
			want:     `{"port": 9090, "nested": {"leaf": "d", "extra": true}}`,
		},
		{
			name:     "new component without defaults starts empty",
			defaults: ``,
			want:     `{}`,
		},
		{
			name:     "existing component keeps its values without update",
			current:  `{"port": 1, "custom": "kept"}`,
			defaults: `{"port": 8080, "mode": "auto"}`,
			want:     `{"port": 1, "custom": "kept"}`,
		},
		{
			name:     "reset a key that has a default restores it",
			current:  `{"port": 1, "mode": "manual"}`,
			defaults: `{"port": 8080, "mode": "auto"}`,
			reset:    []string{"/port"},
			want:     `{"port": 8080, "mode": "manual"}`,
		},
		{
			name:     "reset a key without default removes it",
			current:  `{"port": 1, "custom": "x"}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"/custom"},
			want:     `{"port": 1}`,
		},
		{
			name:     "reset a key that is missing and has no default is a no-op",
			current:  `{"port": 1}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"/ghost", "/ghost/deeper"},
			want:     `{"port": 1}`,
		},
		{
			name:     "reset a removed key brings its default back",
			current:  `{}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"/port"},
			want:     `{"port": 8080}`,
		},
		{
			name:     "reset a nested leaf touches nothing else",
			current:  `{"nested": {"leaf": "changed", "other": 2, "deeper": {"x": 5}}}`,
			defaults: sampleDefaults,
			reset:    []string{"/nested/leaf"},
			want:     `{"nested": {"leaf": "d", "other": 2, "deeper": {"x": 5}}}`,
		},
		{
			name:     "reset a nested object replaces it whole with the default",
			current:  `{"nested": {"leaf": "changed", "other": 2, "deeper": {"x": 5, "y": 6}}}`,
			defaults: sampleDefaults,
			reset:    []string{"/nested/deeper"},
			want:     `{"nested": {"leaf": "changed", "other": 2, "deeper": {"x": 1}}}`,
		},
		{
			name:     "reset a nested default whose parent is gone recreates the parent",
			current:  `{"port": 1}`,
			defaults: sampleDefaults,
			reset:    []string{"/nested/deeper/x"},
			want:     `{"port": 1, "nested": {"deeper": {"x": 1}}}`,
		},
		{
			name:     "reset everything with the empty pointer",
			current:  `{"port": 1, "custom": "x", "nested": {"leaf": "changed"}}`,
			defaults: `{"port": 8080, "nested": {"leaf": "d"}}`,
			reset:    []string{""},
			want:     `{"port": 8080, "nested": {"leaf": "d"}}`,
		},
		{
			name:     "reset everything wins over other pointers in any order",
			current:  `{"port": 1, "custom": "x"}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"/custom", "", "/port"},
			want:     `{"port": 8080}`,
		},
		{
			name:     "reset runs before merge",
			current:  `{"port": 1, "mode": "manual"}`,
			defaults: `{"port": 8080, "mode": "auto"}`,
			reset:    []string{"", "/port"},
			merge:    `{"port": 9090}`,
			want:     `{"port": 9090, "mode": "auto"}`,
		},
		{
			name:     "reset restores defaults that are empty or null as they are",
			current:  `{"emptyList": [1], "emptyObject": {"k": 1}, "nullDefault": "set"}`,
			defaults: sampleDefaults,
			reset:    []string{"/emptyList", "/emptyObject", "/nullDefault"},
			want:     `{"emptyList": [], "emptyObject": {}, "nullDefault": null}`,
		},
		{
			name:     "reset a whole list",
			current:  `{"list": ["z"]}`,
			defaults: sampleDefaults,
			reset:    []string{"/list"},
			want:     `{"list": ["a", "b"]}`,
		},
		{
			name:     "reset pointer escapes ~1 and ~0",
			current:  `{"a/b": "x", "t~n": "y", "a": {"b": "untouched"}}`,
			defaults: sampleDefaults,
			reset:    []string{"/a~1b", "/t~0n"},
			want:     `{"a/b": "slash", "t~n": "tilde", "a": {"b": "untouched"}}`,
		},
		{
			name:     "numeric token is an object key when the parent is an object",
			current:  `{"ports": {"0": "x", "1": "y"}}`,
			defaults: `{"ports": {"0": "d"}}`,
			reset:    []string{"/ports/0", "/ports/1"},
			want:     `{"ports": {"0": "d"}}`,
		},
		{
			name:     "merge adds keys that are not in the defaults",
			current:  `{"port": 1}`,
			defaults: `{"port": 8080}`,
			merge:    `{"brandNew": {"deep": [1, 2]}}`,
			want:     `{"port": 1, "brandNew": {"deep": [1, 2]}}`,
		},
		{
			name:     "merge objects key by key at every level",
			current:  `{"nested": {"leaf": "d", "deeper": {"x": 1, "y": 2}}}`,
			defaults: sampleDefaults,
			merge:    `{"nested": {"deeper": {"y": 3, "z": 4}}}`,
			want:     `{"nested": {"leaf": "d", "deeper": {"x": 1, "y": 3, "z": 4}}}`,
		},
		{
			name:     "merge replaces a list whole, never appends",
			current:  `{"list": ["a", "b", "c"]}`,
			defaults: sampleDefaults,
			merge:    `{"list": ["z"]}`,
			want:     `{"list": ["z"]}`,
		},
		{
			name:    "merge a list of objects replaces it, objects are not merged inside",
			current: `{"list": [{"a": 1, "b": 2}]}`,
			merge:   `{"list": [{"a": 9}]}`,
			want:    `{"list": [{"a": 9}]}`,
		},
		{
			name:    "merge changes a scalar into an object",
			current: `{"myKey": "myValue"}`,
			merge:   `{"myKey": {"nestedKey1": "myValue"}}`,
			want:    `{"myKey": {"nestedKey1": "myValue"}}`,
		},
		{
			name:    "merge changes an object into a scalar",
			current: `{"myKey": {"nestedKey1": "myValue"}}`,
			merge:   `{"myKey": 42}`,
			want:    `{"myKey": 42}`,
		},
		{
			name:    "merge changes a list into an object and an object into a list",
			current: `{"a": [1], "b": {"k": 1}}`,
			merge:   `{"a": {"k": 2}, "b": [2]}`,
			want:    `{"a": {"k": 2}, "b": [2]}`,
		},
		{
			name:    "merge null sets the key to null and keeps it",
			current: `{"port": 1, "nested": {"leaf": "x"}}`,
			merge:   `{"port": null, "nested": null, "fresh": null}`,
			want:    `{"port": null, "nested": null, "fresh": null}`,
		},
		{
			name:    "merge an empty object into an object changes nothing",
			current: `{"nested": {"leaf": "x"}}`,
			merge:   `{"nested": {}}`,
			want:    `{"nested": {"leaf": "x"}}`,
		},
		{
			name:    "merge empty values replaces scalars",
			current: `{"s": "x", "l": [1], "o": 5}`,
			merge:   `{"s": "", "l": [], "o": {}}`,
			want:    `{"s": "", "l": [], "o": {}}`,
		},
		{
			name:    "merge an object over null",
			current: `{"n": null}`,
			merge:   `{"n": {"k": 1}}`,
			want:    `{"n": {"k": 1}}`,
		},
		{
			name:     "reset restores a default after a merge changed the type",
			current:  `{"nested": "flattened"}`,
			defaults: sampleDefaults,
			reset:    []string{"/nested"},
			want:     `{"nested": {"leaf": "d", "deeper": {"x": 1}}}`,
		},
		{
			name:     "reset without default under a scalar parent is a no-op",
			current:  `{"nested": "flattened"}`,
			defaults: `{}`,
			reset:    []string{"/nested/leaf"},
			want:     `{"nested": "flattened"}`,
		},
		{
			name:     "reset a nested default under a scalar parent names the pointer to reset instead",
			current:  `{"nested": "flattened"}`,
			defaults: sampleDefaults,
			reset:    []string{"/nested/leaf"},
			wantErr:  ErrInvalidValue,
			wantMsg:  `/nested is a string in the current configuration, not an object, so "/nested/leaf" cannot be restored inside it: reset "/nested" instead`,
		},
		{
			name:     "reset pointer without leading slash is refused",
			current:  `{"port": 1}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"port"},
			wantErr:  ErrBadPointer,
			wantMsg:  `reset pointer "port" does not start with "/": write a JSON pointer such as "/port"`,
		},
		{
			name:    "reset pointer with a bare tilde is refused",
			current: `{}`,
			reset:   []string{"/a~2b"},
			wantErr: ErrBadPointer,
			wantMsg: `"/a~2b" has a bare "~"`,
		},
		{
			name:     "reset a list element in the current configuration is refused",
			current:  `{"list": ["a", "b"]}`,
			defaults: `{}`,
			reset:    []string{"/list/0"},
			wantErr:  ErrBadPointer,
			wantMsg:  `reset "/list/0" points inside the list /list: Greengrass resets whole lists only, reset "/list"`,
		},
		{
			name:     "reset a list element in the defaults is refused",
			current:  `{}`,
			defaults: `{"list": [{"k": 1}]}`,
			reset:    []string{"/list/0/k"},
			wantErr:  ErrBadPointer,
			wantMsg:  `points inside the list /list`,
		},
		{
			name:     "a bad pointer fails the whole update, even after a good one",
			current:  `{"port": 1}`,
			defaults: `{"port": 8080}`,
			reset:    []string{"/port", "bad"},
			merge:    `{"port": 2}`,
			wantErr:  ErrBadPointer,
			wantMsg:  `"bad"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current, defaults, merge := obj(t, tt.current), obj(t, tt.defaults), obj(t, tt.merge)
			got, err := Apply(current, defaults, tt.reset, merge)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Apply error = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
				}
				if got != nil {
					t.Errorf("Apply returned %s with an error, want nil", asJSON(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if want := obj(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("Apply =\n  %s\nwant\n  %s", asJSON(got), asJSON(want))
			}
		})
	}
}

func TestApplyNeverModifiesItsInputs(t *testing.T) {
	current := obj(t, `{"nested": {"leaf": "c", "deeper": {"x": 5}}, "list": [{"k": 1}], "gone": 1}`)
	defaults := obj(t, sampleDefaults)
	merge := obj(t, `{"nested": {"deeper": {"y": 1}}, "list": [{"k": 2}], "obj": {"in": [1]}}`)
	reset := []string{"/gone", "/nested/leaf", "/emptyObject"}
	before := asJSON([]any{current, defaults, merge, reset})

	got, err := Apply(current, defaults, reset, merge)
	if err != nil {
		t.Fatal(err)
	}
	if after := asJSON([]any{current, defaults, merge, reset}); after != before {
		t.Fatalf("Apply modified its inputs:\nbefore %s\nafter  %s", before, after)
	}

	// The result shares no object or list with any input: changing it
	// deeply leaves the inputs alone.
	got["nested"].(map[string]any)["deeper"].(map[string]any)["x"] = "mutated"
	got["list"].([]any)[0].(map[string]any)["k"] = "mutated"
	got["obj"].(map[string]any)["in"].([]any)[0] = "mutated"
	got["emptyObject"].(map[string]any)["k"] = "mutated"
	if after := asJSON([]any{current, defaults, merge, reset}); after != before {
		t.Fatalf("the result shares memory with the inputs:\nbefore %s\nafter  %s", before, after)
	}

	// A fresh component's configuration does not alias the defaults either.
	fresh, err := Apply(nil, defaults, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh["nested"].(map[string]any)["leaf"] = "mutated"
	fresh["list"].([]any)[0] = "mutated"
	if after := asJSON([]any{current, defaults, merge, reset}); after != before {
		t.Fatal("a new component's configuration shares memory with the defaults")
	}
}

func TestApplyRefusesValuesJSONCannotCarry(t *testing.T) {
	tests := []struct {
		name    string
		current map[string]any
		merge   map[string]any
		wantMsg string
	}{
		{"NaN in merge", nil, map[string]any{"a": map[string]any{"b": math.NaN()}}, `merge at "/a/b" is NaN`},
		{"infinity in current", map[string]any{"x": []any{math.Inf(1)}}, nil, `current configuration at "/x/0" is +Inf`},
		{"Go type in merge", nil, map[string]any{"ch": make(chan int)}, `merge at "/ch" holds a Go chan int`},
		{"typed list in merge", nil, map[string]any{"l": []string{"a"}}, `holds a Go []string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Apply(tt.current, nil, nil, tt.merge)
			if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Apply error = %v, want ErrInvalidValue containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestApplyAcceptsAnyNumericGoType(t *testing.T) {
	got, err := Apply(map[string]any{"i": 1, "u": uint8(2), "n": json.Number("3")}, nil, nil, map[string]any{"f": float32(1.5)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"f":1.5,"i":1,"n":3,"u":2}`; asJSON(got) != want {
		t.Fatalf("got %s, want %s", asJSON(got), want)
	}
}

func TestUpgrade(t *testing.T) {
	tests := []struct {
		name          string
		current       string
		before, after string // the old and the new version's defaults
		want          string
	}{
		{
			name:   "new component gets the new defaults",
			after:  `{"port": 8080}`,
			before: `{"port": 1}`,
			want:   `{"port": 8080}`,
		},
		{
			name:    "keys the new version adds are filled in",
			current: `{"port": 8080}`,
			before:  `{"port": 8080}`,
			after:   `{"port": 8080, "tls": {"enabled": false}, "peers": []}`,
			want:    `{"port": 8080, "tls": {"enabled": false}, "peers": []}`,
		},
		{
			name:    "values still at their old default follow the new default",
			current: `{"port": 8080, "list": ["a"]}`,
			before:  `{"port": 8080, "list": ["a"]}`,
			after:   `{"port": 9000, "list": ["a", "b"]}`,
			want:    `{"port": 9000, "list": ["a", "b"]}`,
		},
		{
			name:    "values a deployment changed are kept",
			current: `{"port": 1234, "list": ["mine"]}`,
			before:  `{"port": 8080, "list": ["a"]}`,
			after:   `{"port": 9000, "list": ["a", "b"]}`,
			want:    `{"port": 1234, "list": ["mine"]}`,
		},
		{
			name:    "nested objects are upgraded key by key",
			current: `{"tls": {"enabled": true, "ciphers": "old-default"}}`,
			before:  `{"tls": {"enabled": false, "ciphers": "old-default"}}`,
			after:   `{"tls": {"enabled": false, "ciphers": "new-default", "minVersion": "1.2"}}`,
			want:    `{"tls": {"enabled": true, "ciphers": "new-default", "minVersion": "1.2"}}`,
		},
		{
			name:    "an untouched default may change type",
			current: `{"endpoint": "host:1"}`,
			before:  `{"endpoint": "host:1"}`,
			after:   `{"endpoint": {"host": "host", "port": 1}}`,
			want:    `{"endpoint": {"host": "host", "port": 1}}`,
		},
		{
			name:    "a changed value keeps its type when the default changes type",
			current: `{"endpoint": "other:2"}`,
			before:  `{"endpoint": "host:1"}`,
			after:   `{"endpoint": {"host": "host", "port": 1}}`,
			want:    `{"endpoint": "other:2"}`,
		},
		{
			name:    "keys the new version drops are kept",
			current: `{"legacy": true, "custom": 1}`,
			before:  `{"legacy": true}`,
			after:   `{}`,
			want:    `{"legacy": true, "custom": 1}`,
		},
		{
			name:    "a key without an old default is kept even if the new version defines it",
			current: `{"port": 1}`,
			before:  `{}`,
			after:   `{"port": 8080}`,
			want:    `{"port": 1}`,
		},
		{
			name:    "same defaults only fill in missing keys",
			current: `{"port": 1}`,
			before:  `{"port": 8080, "mode": "auto"}`,
			after:   `{"port": 8080, "mode": "auto"}`,
			want:    `{"port": 1, "mode": "auto"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current, before, after := obj(t, tt.current), obj(t, tt.before), obj(t, tt.after)
			was := asJSON([]any{current, before, after})
			got := Upgrade(current, before, after)
			if want := obj(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("Upgrade =\n  %s\nwant\n  %s", asJSON(got), asJSON(want))
			}
			if asJSON([]any{current, before, after}) != was {
				t.Error("Upgrade modified its inputs")
			}
		})
	}
}

func TestUpgradeComparesNumbersByValue(t *testing.T) {
	// Stored configuration comes back as float64; a recipe may hold ints.
	got := Upgrade(map[string]any{"port": float64(8080)}, map[string]any{"port": 8080}, map[string]any{"port": 9000})
	if got["port"] != 9000 {
		t.Fatalf("port = %v (%T), want the new default 9000", got["port"], got["port"])
	}
}

func TestUpgradedResultDoesNotAliasTheNewDefaults(t *testing.T) {
	after := obj(t, `{"tls": {"ciphers": ["a"]}}`)
	got := Upgrade(obj(t, `{}`), nil, after)
	got["tls"].(map[string]any)["ciphers"].([]any)[0] = "mutated"
	if asJSON(after) != `{"tls":{"ciphers":["a"]}}` {
		t.Fatalf("new defaults changed through the result: %s", asJSON(after))
	}
}
