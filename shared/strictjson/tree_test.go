package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseAgreesWithEncodingJSON checks the hand-written parser against
// encoding/json: whatever it accepts is valid JSON with the same value, and
// valid JSON it refuses is refused for one of its documented reasons.
func FuzzParseAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n"]}`, `"\ud800"`, `[]`, `{}`, ` 0 `, `-0.0E+1`, `{"a":1,"a":2}`, "\"\xff\"", `01`, `[1,]`, `{"a" 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parse(data, "input")
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
