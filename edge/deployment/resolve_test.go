package deployment

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/recipe"
)

// mk builds a recipe with dependencies given as "name range" pairs.
func mk(t *testing.T, name, version string, deps ...string) *recipe.Recipe {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "RecipeFormatVersion: \"2020-01-25\"\nComponentName: %s\nComponentVersion: %q\n", name, version)
	if len(deps) > 0 {
		b.WriteString("ComponentDependencies:\n")
		for _, d := range deps {
			n, rng, _ := strings.Cut(d, " ")
			fmt.Fprintf(&b, "  %s:\n    VersionRequirement: %q\n", n, rng)
		}
	}
	b.WriteString("Manifests:\n  - Lifecycle:\n      Run: \"true\"\n")
	r, err := recipe.Parse(name+"-"+version+".yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func versions(sel map[string]*recipe.Recipe) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		parts = append(parts, k+"@"+sel[k].Version)
	}
	return strings.Join(parts, " ")
}

// provides is a nucleus that provides nucleus.Provided, or, unconfigured,
// refuses it naming what to configure.
func provides(configured bool) Builtin {
	return func(name string) (bool, error) {
		if name != "nucleus.Provided" {
			return false, nil
		}
		if !configured {
			return false, errNoCloud
		}
		return true, nil
	}
}

var errNoCloud = errors.New("the device has no cloud configuration: set iotCredEndpoint")

func TestResolve(t *testing.T) {
	cat := func(rs ...*recipe.Recipe) Catalog { c := Catalog{}; c.Add(rs...); return c }
	for _, tc := range []struct {
		name    string
		roots   map[string][]Root
		catalog Catalog
		builtin Builtin
		want    string
		wantErr []string
		wantIs  error // default ErrConflict
	}{
		{
			name:    "a root is taken at its exact version, not the highest",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0"), mk(t, "a", "2.0.0")),
			want:    "a@1.0.0",
		},
		{
			name:    "a dependency gets the highest version its range allows",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b ^1.0.0"), mk(t, "b", "1.0.0"), mk(t, "b", "1.4.2"), mk(t, "b", "2.0.0")),
			want:    "a@1.0.0 b@1.4.2",
		},
		{
			name:  "ranges from every requirer intersect",
			roots: map[string][]Root{"a": {{"1.0.0", "LOCAL"}}, "c": {{"1.0.0", "fleet"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b >=1.0.0 <2.0.0"), mk(t, "c", "1.0.0", "b ~1.2.0"),
				mk(t, "b", "1.2.5"), mk(t, "b", "1.3.0"), mk(t, "b", "1.9.0")),
			want: "a@1.0.0 b@1.2.5 c@1.0.0",
		},
		{
			name:    "transitive dependencies are resolved",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b 1.x"), mk(t, "b", "1.1.0", "c >=2.0.0"), mk(t, "c", "2.0.0"), mk(t, "c", "3.1.0")),
			want:    "a@1.0.0 b@1.1.0 c@3.1.0",
		},
		{
			name:    "a dependency that a higher version drops is not deployed",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b ^1.0.0"), mk(t, "b", "1.0.0", "old ^1.0.0"), mk(t, "b", "1.1.0"), mk(t, "old", "1.0.0")),
			want:    "a@1.0.0 b@1.1.0",
		},
		{
			name:    "conflicting ranges name every requirer and the available versions",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}, "c": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b ^1.0.0"), mk(t, "c", "1.0.0", "b ^2.0.0"), mk(t, "b", "1.5.0"), mk(t, "b", "2.1.0")),
			wantErr: []string{"b:", "a 1.0.0 requires ^1.0.0", "c 1.0.0 requires ^2.0.0", "versions 1.5.0, 2.1.0"},
		},
		{
			name:    "two groups deploying different versions of one root conflict",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}, {"2.0.0", "fleet"}}},
			catalog: cat(mk(t, "a", "1.0.0"), mk(t, "a", "2.0.0")),
			wantErr: []string{"group LOCAL requires 1.0.0", "group fleet requires 2.0.0"},
		},
		{
			name:  "a dependency two thing groups require in ranges no version meets names both groups",
			roots: map[string][]Root{"a": {{"1.0.0", "sensors"}}, "c": {{"1.0.0", "cameras"}}},
			catalog: cat(mk(t, "a", "1.0.0", "b ^1.0.0"), mk(t, "c", "1.0.0", "mid ^1.0.0"), mk(t, "mid", "1.0.0", "b ^2.0.0"),
				mk(t, "b", "1.5.0"), mk(t, "b", "2.1.0")),
			wantErr: []string{"b:", "a 1.0.0 requires ^1.0.0 (deployed by group sensors)", "mid 1.0.0 requires ^2.0.0 (deployed by group cameras)"},
		},
		{
			name:    "a missing dependency is named with its requirer",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "ghost ^1.0.0")),
			wantErr: []string{"ghost:", "a 1.0.0 requires ^1.0.0", "no version of it"},
		},
		{
			name:    "a SOFT dependency nobody offers is left out",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mkSoft(t, "a", "1.0.0", "optional")),
			want:    "a@1.0.0",
		},
		{
			name:    "a dependency the nucleus provides needs no recipe and is never taken from one",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "nucleus.Provided ^2.0.0"), mk(t, "nucleus.Provided", "2.0.0")),
			builtin: provides(true),
			want:    "a@1.0.0",
		},
		{
			name:    "a dependency the nucleus cannot provide names the requirer and the missing configuration",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0", "nucleus.Provided ^2.0.0")),
			builtin: provides(false),
			wantErr: []string{"required by a 1.0.0", "set iotCredEndpoint"},
			wantIs:  errNoCloud,
		},
		{
			name:    "a SOFT dependency the nucleus cannot provide is left out",
			roots:   map[string][]Root{"a": {{"1.0.0", "LOCAL"}}},
			catalog: cat(mkSoft(t, "a", "1.0.0", "nucleus.Provided")),
			builtin: provides(false),
			want:    "a@1.0.0",
		},
		{
			name:    "a root version that is not in the catalog",
			roots:   map[string][]Root{"a": {{"9.9.9", "LOCAL"}}},
			catalog: cat(mk(t, "a", "1.0.0")),
			wantErr: []string{"group LOCAL requires 9.9.9", "versions 1.0.0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.roots, tc.catalog, tc.builtin)
			if tc.wantErr != nil {
				wantIs := cmp.Or(tc.wantIs, ErrConflict)
				if !errors.Is(err, wantIs) {
					t.Fatalf("Resolve = %v, %v; want %v", versions(got), err, wantIs)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v := versions(got); v != tc.want {
				t.Fatalf("Resolve = %s, want %s", v, tc.want)
			}
		})
	}
}

func mkSoft(t *testing.T, name, version, dep string) *recipe.Recipe {
	t.Helper()
	text := fmt.Sprintf("RecipeFormatVersion: '2020-01-25'\nComponentName: %s\nComponentVersion: '%s'\nComponentDependencies:\n  %s:\n    VersionRequirement: '^1.0.0'\n    DependencyType: SOFT\nManifests:\n  - Lifecycle:\n      Run: 'true'\n", name, version, dep)
	r, err := recipe.Parse(name+".yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
