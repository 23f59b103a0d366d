package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAgreesWithEncodingJSON checks the hand-written parser against
// encoding/json: whatever it accepts is valid JSON with the same value, and
// valid JSON it refuses is refused for one of its documented reasons.
func FuzzParseAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n"]}`, `"\ud800"`, `[]`, `{}`, ` 0 `, `-0.0E+1`, `{"a":1,"a":2}`, "\"\xff\"", `01`, `[1,]`, `{"a" 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data, "", "input")
		valid := json.Valid(data)
		if err != nil {
			if valid && !strings.Contains(err.Error(), "twice") && !strings.Contains(err.Error(), "nests deeper") && !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("refused valid JSON %q: %v", data, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q as %#v", data, got)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parsed %#v, encoding/json %#v", data, got, want)
		}
	})
}

// TestParseNamesProblemsUnderRoot: a document held in a field of another
// (a deployment's merge given as a string, a CLI flag) reports its problems
// at paths below that field, and its syntax errors under the input's name.
func TestParseNamesProblemsUnderRoot(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1)
	tests := []struct {
		name, root, input, want string
	}{
		{"duplicate key at the top", "--update-config", `{"A": 1, "A": 2}`, `--update-config.A: is given twice in one object; keep one`},
		{"duplicate key below a dotted key", `components["com.example.A"].merge`, `{"x": {"y": 1, "y": 2}}`, `components["com.example.A"].merge.x.y: is given twice in one object; keep one`},
		{"duplicate key in a list", "merge", `{"l": [{"k": 1, "k": 2}]}`, `merge.l[0].k: is given twice in one object; keep one`},
		{"duplicate key without a root", "", `{"a": {"b": 1, "b": 2}}`, `a.b: is given twice in one object; keep one`},
		{"nesting too deep", "merge", deep, "merge" + strings.Repeat("[0]", MaxDepth) + ": nests deeper than 64 levels; flatten it"},
		{"syntax names the input, not the root", "merge", `{"x"}`, `the string is not valid JSON (line 1, column 5): invalid character '}'; expected ':' after an object key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.input), tc.root, "the string")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Parse(%q, root %q) = %v, want %q", tc.input, tc.root, err, tc.want)
			}
		})
	}
}

func TestTruncateKeepsMessagesShortAndValidUTF8(t *testing.T) {
	long := strings.Repeat("é", 100)
	got := Truncate(long)
	if !utf8.ValidString(got) || len(got) > 64 || !strings.HasSuffix(got, "…") {
		t.Errorf("Truncate = %q", got)
	}
	if Truncate("short") != "short" {
		t.Error("short text must stay whole")
	}
}
