package recipe

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestYAMLMergeBombIsRefusedQuickly(t *testing.T) {
	var b strings.Builder
	b.WriteString("RecipeFormatVersion: '2020-01-25'\nComponentName: a\nComponentVersion: '1.0.0'\nManifests: [{Lifecycle: {Run: x}}]\n")
	b.WriteString("l0: &l0 {")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "k%d: %d, ", i, i)
	}
	b.WriteString("}\n")
	for level := 1; level <= 6; level++ {
		fmt.Fprintf(&b, "l%d: &l%d {<<: [%s]}\n", level, level, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", level-1), 10), ", "))
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("got %v, want the expansion limit", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v; the node budget must bound the work", elapsed)
	}
}

func TestYAMLMergeKeysLetTheMappingsOwnKeysWin(t *testing.T) {
	r, err := Parse("merge.yaml", []byte(`
RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Merge
ComponentVersion: '1.0.0'
ComponentConfiguration:
  DefaultConfiguration:
    base: &base {a: 1, b: 2}
    more: &more {c: 3}
    merged:
      b: own
      <<: [*base, *more]
Manifests: [{Lifecycle: {Run: x}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(r.DefaultConfiguration["merged"])
	if got != "map[a:1 b:own c:3]" {
		t.Errorf("merged = %s", got)
	}
}

func TestYAMLKeepsQuotedAndTypedScalarsApart(t *testing.T) {
	r, err := Parse("types.yaml", []byte(`
RecipeFormatVersion: 2020-01-25
ComponentName: com.example.Types
ComponentVersion: 1.0.0
ComponentPublisher: 2024
ComponentConfiguration:
  DefaultConfiguration: {int: 0x10, float: 1.5e3, quoted: "42", bool: true, null: ~, date: 2020-01-25}
Manifests: [{Lifecycle: {Run: x}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := r.DefaultConfiguration
	if c["int"] != float64(16) || c["float"] != 1500.0 || c["quoted"] != "42" || c["bool"] != true || c["null"] != nil || c["date"] != "2020-01-25" {
		t.Errorf("config = %#v", c)
	}
	if r.Publisher != "2024" || r.FormatVersion != FormatVersion {
		t.Errorf("publisher %q format %q", r.Publisher, r.FormatVersion)
	}
}

func TestYAMLSyntaxErrorsNameTheLineThatCausesThem(t *testing.T) {
	const head = "RecipeFormatVersion: '2020-01-25'\nComponentName: a\nComponentVersion: '1.0.0'\nManifests:\n"
	tests := []struct {
		name, doc, want string
	}{
		{"key indented less than its siblings",
			head + "  - Lifecycle:\n      Run: echo\n     Install: x\n",
			`line 7: did not find expected key, at "Install: x"`},
		{"flow list left open",
			"RecipeFormatVersion: '2020-01-25'\nComponentName: a\nManifests: [\n  {Lifecycle: {Run: echo}}\n\nLifecycle: {}\n",
			`line 4: did not find expected ',' or ']', at "{Lifecycle: {Run: echo}}"`},
		{"tab used for indentation",
			head + "  - Lifecycle:\n\tRun: echo\n",
			`line 6: found character that cannot start any token, at "Run: echo"`},
		{"quote left open",
			head + "  - Lifecycle:\n      Run: \"echo hi\n  - Platform: {os: linux}\n",
			`line 6: found unexpected end of stream, at "Run: \"echo hi"`},
		{"colon inside a plain value",
			"RecipeFormatVersion: '2020-01-25'\nComponentName: a: b\n",
			`line 2: mapping values are not allowed in this context, at "ComponentName: a: b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tt.doc))
			want := "r.yaml: invalid YAML: " + tt.want + "; fix the YAML syntax"
			if err == nil || err.Error() != want {
				t.Errorf("Parse error =\n  %v\nwant\n  %s", err, want)
			}
		})
	}
}
