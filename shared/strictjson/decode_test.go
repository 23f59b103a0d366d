package strictjson

import (
	"errors"
	"strings"
	"testing"
)

type inner struct {
	Name  string   `json:"name,required" example:"\"a\""`
	Value *float64 `json:"value,omitempty"`
}

type doc struct {
	FormatVersion int              `json:"formatVersion,required"`
	Count         int32            `json:"count,omitempty"`
	Ratio         float64          `json:"ratio,omitempty" example:"0.5"`
	On            bool             `json:"on,omitempty"`
	Items         []inner          `json:"items,omitempty"`
	ByName        map[string]inner `json:"byName,omitempty"`
	Free          map[string]any   `json:"free,omitempty"`
	Later         []Node           `json:"later,omitempty"`
}

// Problems are listed in the order of the struct's fields.
func TestDecodeReportsEveryProblemWithItsPathAndFix(t *testing.T) {
	opts := Options{Name: "the test document", MaxSize: 1 << 10, FormatVersion: 1}
	for _, tc := range []struct {
		name  string
		input string
		want  []string // substrings of the error, in order
	}{
		{name: "valid document", input: `{"formatVersion":1,"count":3,"items":[{"name":"a","value":1.5}],"byName":{"x.y":{"name":"b"}},"free":{"n":1,"l":[true]}}`},
		{name: "not JSON", input: `{"formatVersion":1,`, want: []string{"the test document is not valid JSON (line 1"}},
		{name: "trailing data", input: `{"formatVersion":1} {}`, want: []string{"more data after the end"}},
		{name: "not an object", input: `[1]`, want: []string{"the test document is a list; it must be a JSON object"}},
		{name: "missing formatVersion", input: `{}`, want: []string{`formatVersion: is missing; add "formatVersion": 1`}},
		{name: "newer formatVersion stops at once", input: `{"formatVersion":2,"unknown":1}`, want: []string{"formatVersion: is 2; this Sward reads format 1 only"}},
		{name: "duplicate key", input: `{"formatVersion":1,"count":1,"count":2}`, want: []string{"count: is given twice in one object; keep one"}},
		{name: "unknown field with near miss", input: `{"formatVersion":1,"Count":1}`, want: []string{`Count: is not a known field; did you mean "count"? field names are case-sensitive`}},
		{name: "unknown field lists the known ones", input: `{"formatVersion":1,"zz":1}`, want: []string{"zz: is not a known field; the fields here are formatVersion, count, ratio"}},
		{name: "wrong type quotes the example", input: `{"formatVersion":1,"ratio":"x"}`, want: []string{`ratio: is the text "x"; write a number, such as 0.5`}},
		{name: "null is refused", input: `{"formatVersion":1,"on":null}`, want: []string{"on: is null; write true or false, or leave the field out if it is optional"}},
		{name: "fraction in a whole number", input: `{"formatVersion":1,"count":1.5}`, want: []string{"count: is the number 1.5; write a whole number from -2147483648 to 2147483647"}},
		{name: "overflow", input: `{"formatVersion":1,"count":99999999999}`, want: []string{"count: is the number 99999999999; write a whole number"}},
		{name: "infinite float", input: `{"formatVersion":1,"ratio":1e999}`, want: []string{"ratio: is the number 1e999, out of range"}},
		{name: "nested paths", input: `{"formatVersion":1,"items":[{"name":"a"},{"value":"v"}],"byName":{"x.y":{}}}`, want: []string{
			`items[1].name: is missing; add it, such as "a"`,
			"items[1].value: is the text \"v\"; write a number",
			`byName["x.y"].name: is missing; add it, such as "a"`,
		}},
		{name: "free-form numbers out of range", input: `{"formatVersion":1,"free":{"n":1e999}}`, want: []string{"free.n: 1e999 is out of range"}},
		{name: "too deep", input: `{"formatVersion":1,"free":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}`, want: []string{"nests deeper than 64 levels"}},
		{name: "too large", input: `{"formatVersion":1,"free":{"s":"` + strings.Repeat("x", 1100) + `"}}`, want: []string{"the test document is 11", "over the 1024-byte limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(tc.input), &d, opts)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error wraps neither ErrInvalid nor ErrTooLarge: %v", err)
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				at += i + len(w)
			}
		})
	}
}

func TestNodeDecodesLaterWithTheFullPath(t *testing.T) {
	var d doc
	if err := Decode([]byte(`{"formatVersion":1,"later":[{"name":"ok"},{"name":5}]}`), &d, Options{FormatVersion: 1}); err != nil {
		t.Fatal(err)
	}
	var good, bad inner
	if err := d.Later[0].Decode(&good); err != nil || good.Name != "ok" {
		t.Fatalf("later[0] = %+v, %v", good, err)
	}
	err := d.Later[1].Decode(&bad)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "later[1].name" {
		t.Fatalf("later[1] error = %v, want one at later[1].name", err)
	}
}

func TestProblemsAreBounded(t *testing.T) {
	var p Problems
	for i := range 80 {
		p.Add(Index("x", i), "bad")
	}
	msg := p.Err().Error()
	if got := strings.Count(msg, "\n") + 1; got != MaxReported+1 {
		t.Errorf("error has %d lines, want %d", got, MaxReported+1)
	}
	if !strings.Contains(msg, "and 30 more problems") {
		t.Errorf("error does not count the rest: %q", msg[len(msg)-40:])
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"formatVersion":1}`, `{"formatVersion":1,"items":[{"name":"a"}],"later":[1,{"x":null}]}`, `[`, `{"a":`, "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		err := Decode(data, &d, Options{MaxSize: 1 << 16, FormatVersion: 1})
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		for _, n := range d.Later {
			var i inner
			_ = n.Decode(&i)
		}
	})
}
