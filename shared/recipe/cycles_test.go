package recipe

import (
	"fmt"
	"strings"
	"testing"
)

// depRecipe parses a recipe of name@version depending on deps ("name range").
func depRecipe(t *testing.T, name, version string, deps ...string) *Recipe {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "RecipeFormatVersion: '2020-01-25'\nComponentName: %s\nComponentVersion: '%s'\n", name, version)
	if len(deps) > 0 {
		b.WriteString("ComponentDependencies:\n")
		for _, d := range deps {
			dep, req, _ := strings.Cut(d, " ")
			fmt.Fprintf(&b, "  %s: {VersionRequirement: '%s'}\n", dep, req)
		}
	}
	b.WriteString("Manifests: [{Lifecycle: {Run: x}}]\n")
	r, err := Parse(name+"-"+version+".yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCyclesNamesEveryCircularDependencyOnce(t *testing.T) {
	tests := []struct {
		name    string
		recipes func(t *testing.T) []*Recipe
		want    []string
	}{
		{"no dependencies", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "a", "1.0.0"), depRecipe(t, "b", "1.0.0")}
		}, nil},
		{"a chain", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "a", "1.0.0", "b ^1.0.0"), depRecipe(t, "b", "1.0.0", "c ^1.0.0"), depRecipe(t, "c", "1.0.0")}
		}, nil},
		{"two components", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "b", "1.0.0", "a ^1.0.0"), depRecipe(t, "a", "1.0.0", "b ^1.0.0")}
		}, []string{"a → b → a"}},
		{"three components, found from any start", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "x", "1.0.0", "c ^1.0.0"), depRecipe(t, "c", "1.0.0", "a ^1.0.0"), depRecipe(t, "b", "1.0.0", "c ^1.0.0"), depRecipe(t, "a", "1.0.0", "b ^1.0.0")}
		}, []string{"a → b → c → a"}},
		{"two separate cycles", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "a", "1.0.0", "b ^1.0.0"), depRecipe(t, "b", "1.0.0", "a ^1.0.0"), depRecipe(t, "p", "1.0.0", "q ^1.0.0"), depRecipe(t, "q", "1.0.0", "p ^1.0.0")}
		}, []string{"a → b → a", "p → q → p"}},
		{"a dependency no given version satisfies is not followed", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "a", "1.0.0", "b ^2.0.0"), depRecipe(t, "b", "1.0.0", "a ^1.0.0")}
		}, nil},
		{"a dependency outside the recipes given is not followed", func(t *testing.T) []*Recipe {
			return []*Recipe{depRecipe(t, "a", "1.0.0", "aws.greengrass.Nucleus ^2.0.0")}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Cycles(tt.recipes(t)) {
				got = append(got, c.String())
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("Cycles = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCycleErrorNamesTheFilesAndTheFix(t *testing.T) {
	c := Cycles([]*Recipe{depRecipe(t, "a", "1.0.0", "b ^1.0.0"), depRecipe(t, "b", "1.0.0", "a ^1.0.0")})
	if len(c) != 1 {
		t.Fatalf("Cycles = %v", c)
	}
	want := "dependency cycle a → b → a (a-1.0.0.yaml, b-1.0.0.yaml); Greengrass refuses circular dependencies: remove one of these ComponentDependencies"
	if c[0].Error() != want {
		t.Errorf("Error() = %q, want %q", c[0].Error(), want)
	}
}
