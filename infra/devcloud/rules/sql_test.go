package rules

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var now = time.UnixMilli(1700000000123)

func TestEvaluateTheTemplatesRules(t *testing.T) {
	tests := []struct {
		name, sql string
		msg       Message
		want      string // JSON; "" when the rule does not fire
	}{
		{"telemetry: payload base64, thing and stream from the topic, receipt time in ms",
			"SELECT encode(*, 'base64') AS data, topic(2) AS thing, topic(4) AS stream, timestamp() AS receivedAt FROM 'sward/+/telemetry/+'",
			Message{Topic: "sward/dev1/telemetry/temp", Payload: []byte{0xff, 0x00, 'x'}, Now: now},
			`{"data":"/wB4","receivedAt":1700000000123,"stream":"temp","thing":"dev1"}`},
		{"deployment events: the payload's fields with the thing and time added",
			"SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM 'sward/+/deployments/status'",
			Message{Topic: "sward/dev1/deployments/status", Payload: []byte(`{"status":"SUCCEEDED","jobId":"j1"}`), Now: now},
			`{"jobId":"j1","receivedAt":1700000000123,"status":"SUCCEEDED","thing":"dev1"}`},
		{"a topic the filter does not match does not fire",
			"SELECT * FROM 'sward/+/deployments/status'",
			Message{Topic: "sward/dev1/telemetry/temp", Payload: []byte(`{}`), Now: now}, ""},
		{"WHERE with AND, OR, NOT and nested fields",
			"SELECT a.b AS v, clientid() AS c FROM 'x/#' WHERE (a.b > 2 AND NOT s = 'off') OR force = true",
			Message{Topic: "x/y/z", Payload: []byte(`{"a":{"b":3},"s":"on"}`), ClientID: "dev1", Now: now},
			`{"c":"dev1","v":3}`},
		{"WHERE false does not fire",
			"SELECT * FROM 'x/#' WHERE a.b > 2",
			Message{Topic: "x", Payload: []byte(`{"a":{"b":1}}`), Now: now}, ""},
		{"an undefined field is left out and compares false",
			"SELECT missing, present FROM 'x' WHERE missing <> 1 OR present = 'p'",
			Message{Topic: "x", Payload: []byte(`{"present":"p"}`), Now: now}, `{"present":"p"}`},
		{"topic(n) beyond the topic is undefined; get() reads awkward keys",
			"SELECT topic(9) AS nine, get(obj, 'a-b') AS ab FROM 'x'",
			Message{Topic: "x", Payload: []byte(`{"obj":{"a-b":1}}`), Now: now}, `{"ab":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			out, ok, err := q.Evaluate(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if ok {
					t.Fatalf("fired with %s, want no match", out)
				}
				return
			}
			if !ok {
				t.Fatal("did not fire")
			}
			var got, want any
			_ = json.Unmarshal(out, &got)
			_ = json.Unmarshal([]byte(tt.want), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if string(gb) != string(wb) {
				t.Errorf("out = %s, want %s", gb, wb)
			}
		})
	}
}

func TestParseNamesWhatItDoesNotEvaluate(t *testing.T) {
	for _, sql := range []string{
		"SELECT VALUE a FROM 'x'",
		"SELECT a + 1 AS b FROM 'x'",
		"SELECT upper(a) AS b FROM 'x'",
		"SELECT timestamp() FROM 'x'",
		"SELECT encode(a, 'hex') AS b FROM 'x'",
		"SELECT a FROM 'x' ORDER BY a",
	} {
		if _, err := Parse(sql); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Parse(%q) = %v, want ErrUnsupported", sql, err)
		}
	}
}
