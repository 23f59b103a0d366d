package shadow

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// step is one request against a shadow and the document (or error) AWS
// answers with. The clock stands at 1700000000.
type step struct {
	op      string // "update", "get", "delete"
	payload string // update document
	want    string // accepted document, when wantErr is nil
	wantErr *Error // rejection: code and exact message
}

// TestAWSDocumentedCases replays the request/response pairs of the AWS IoT
// developer guide ("Device Shadow service documents", "Interacting with
// shadows", "Device Shadow error messages") against one broker, one thing
// per case.
func TestAWSDocumentedCases(t *testing.T) {
	s, _, _ := newEnv(t, fixedClock())
	for i, tc := range []struct {
		name  string
		steps []step
	}{
		{"update creates the shadow, echoes the request with metadata, version 1 and the client token", []step{
			{op: "update", payload: `{"state":{"desired":{"color":"red"}},"clientToken":"tok-1"}`,
				want: `{"state":{"desired":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000,"clientToken":"tok-1"}`},
		}},
		{"get returns desired, reported, the delta and per-leaf metadata", []step{
			{op: "update", payload: `{"state":{"reported":{"color":"green","power":"on"}}}`,
				want: `{"state":{"reported":{"color":"green","power":"on"}},"metadata":{"reported":{"color":{"timestamp":1700000000},"power":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"desired":{"color":"red","power":"on","mode":"eco"}}}`,
				want: `{"state":{"desired":{"color":"red","power":"on","mode":"eco"}},"metadata":{"desired":{"color":{"timestamp":1700000000},"power":{"timestamp":1700000000},"mode":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"color":"red","power":"on","mode":"eco"},"reported":{"color":"green","power":"on"},"delta":{"color":"red","mode":"eco"}},
				"metadata":{"desired":{"color":{"timestamp":1700000000},"power":{"timestamp":1700000000},"mode":{"timestamp":1700000000}},"reported":{"color":{"timestamp":1700000000},"power":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
		}},
		{"reported catching up with desired clears the delta", []step{
			{op: "update", payload: `{"state":{"desired":{"color":"red"}}}`, want: `{"state":{"desired":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"color":"red"}}}`, want: `{"state":{"reported":{"color":"red"}},"metadata":{"reported":{"color":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"color":"red"},"reported":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":1700000000}},"reported":{"color":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
		}},
		{"null deletes a key and its metadata; the accepted document echoes the null", []step{
			{op: "update", payload: `{"state":{"desired":{"color":"red","engine":"on"}}}`, want: `{"state":{"desired":{"color":"red","engine":"on"}},"metadata":{"desired":{"color":{"timestamp":1700000000},"engine":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"desired":{"engine":null}}}`, want: `{"state":{"desired":{"engine":null}},"metadata":{"desired":{"engine":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"color":"red"},"delta":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
		}},
		{"desired null removes the whole section", []step{
			{op: "update", payload: `{"state":{"desired":{"color":"red"},"reported":{"color":"blue"}}}`, want: `{"state":{"desired":{"color":"red"},"reported":{"color":"blue"}},"metadata":{"desired":{"color":{"timestamp":1700000000}},"reported":{"color":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"color":"red"},"desired":null}}`, want: `{"state":{"reported":{"color":"red"},"desired":null},"metadata":{"reported":{"color":{"timestamp":1700000000}},"desired":{"timestamp":1700000000}},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"reported":{"color":"red"}},"metadata":{"reported":{"color":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
		}},
		{"state null clears the document but keeps the shadow and its version", []step{
			{op: "update", payload: `{"state":{"desired":{"a":1},"reported":{"a":2}}}`, want: `{"state":{"desired":{"a":1},"reported":{"a":2}},"metadata":{"desired":{"a":{"timestamp":1700000000}},"reported":{"a":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":null}`, want: `{"state":null,"metadata":{},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{},"metadata":{},"version":2,"timestamp":1700000000}`},
		}},
		{"objects merge key by key and the delta holds only the nested fields that differ", []step{
			{op: "update", payload: `{"state":{"reported":{"light":{"color":"red","level":3}}}}`, want: `{"state":{"reported":{"light":{"color":"red","level":3}}},"metadata":{"reported":{"light":{"color":{"timestamp":1700000000},"level":{"timestamp":1700000000}}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"desired":{"light":{"color":"red","level":5}}}}`, want: `{"state":{"desired":{"light":{"color":"red","level":5}}},"metadata":{"desired":{"light":{"color":{"timestamp":1700000000},"level":{"timestamp":1700000000}}}},"version":2,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"light":{"on":true}}}}`, want: `{"state":{"reported":{"light":{"on":true}}},"metadata":{"reported":{"light":{"on":{"timestamp":1700000000}}}},"version":3,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"light":{"color":"red","level":5}},"reported":{"light":{"color":"red","level":3,"on":true}},"delta":{"light":{"level":5}}},
				"metadata":{"desired":{"light":{"color":{"timestamp":1700000000},"level":{"timestamp":1700000000}}},"reported":{"light":{"color":{"timestamp":1700000000},"level":{"timestamp":1700000000},"on":{"timestamp":1700000000}}}},"version":3,"timestamp":1700000000}`},
		}},
		{"arrays are replaced whole, with metadata per element, and differ as a whole", []step{
			{op: "update", payload: `{"state":{"reported":{"colors":["red","green","blue"]}}}`, want: `{"state":{"reported":{"colors":["red","green","blue"]}},"metadata":{"reported":{"colors":[{"timestamp":1700000000},{"timestamp":1700000000},{"timestamp":1700000000}]}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"desired":{"colors":["red","green"]}}}`, want: `{"state":{"desired":{"colors":["red","green"]}},"metadata":{"desired":{"colors":[{"timestamp":1700000000},{"timestamp":1700000000}]}},"version":2,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"colors":["red","green"]},"reported":{"colors":["red","green","blue"]},"delta":{"colors":["red","green"]}},
				"metadata":{"desired":{"colors":[{"timestamp":1700000000},{"timestamp":1700000000}]},"reported":{"colors":[{"timestamp":1700000000},{"timestamp":1700000000},{"timestamp":1700000000}]}},"version":2,"timestamp":1700000000}`},
		}},
		{"numbers compare by value and keep their exact text", []step{
			{op: "update", payload: `{"state":{"desired":{"t":1.0,"big":12345678901234567890},"reported":{"t":1,"big":12345678901234567890}}}`,
				want: `{"state":{"desired":{"t":1.0,"big":12345678901234567890},"reported":{"t":1,"big":12345678901234567890}},"metadata":{"desired":{"t":{"timestamp":1700000000},"big":{"timestamp":1700000000}},"reported":{"t":{"timestamp":1700000000},"big":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"t":1.0,"big":12345678901234567890},"reported":{"t":1,"big":12345678901234567890}},"metadata":{"desired":{"t":{"timestamp":1700000000},"big":{"timestamp":1700000000}},"reported":{"t":{"timestamp":1700000000},"big":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
		}},
		{"an update carrying the current version is applied; a stale one is a version conflict", []step{
			{op: "update", payload: `{"state":{"reported":{"n":1}}}`, want: `{"state":{"reported":{"n":1}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"n":2}},"version":1}`, want: `{"state":{"reported":{"n":2}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"n":3}},"version":1,"clientToken":"late"}`, wantErr: &Error{Code: 409, Message: "Version conflict"}},
			{op: "get", want: `{"state":{"reported":{"n":2}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
		}},
		{"a version on a shadow that does not exist is a conflict", []step{
			{op: "update", payload: `{"state":{"reported":{"n":1}},"version":0}`, wantErr: &Error{Code: 409, Message: "Version conflict"}},
			{op: "get", wantErr: &Error{Code: 404, Message: "No shadow exists with name: 'aws-case-10'"}},
		}},
		{"every update increments the version, even one that changes nothing", []step{
			{op: "update", payload: `{"state":{"reported":{"n":1}}}`, want: `{"state":{"reported":{"n":1}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{}}}`, want: `{"state":{"reported":{}},"metadata":{"reported":{}},"version":2,"timestamp":1700000000}`},
		}},
		{"get and delete of a shadow that never existed are 404 naming the thing", []step{
			{op: "get", wantErr: &Error{Code: 404, Message: "No shadow exists with name: 'aws-case-12'"}},
			{op: "delete", wantErr: &Error{Code: 404, Message: "No shadow exists with name: 'aws-case-12'"}},
		}},
		{"delete answers the deleted version; a re-created shadow continues from it", []step{
			{op: "update", payload: `{"state":{"reported":{"n":1}}}`, want: `{"state":{"reported":{"n":1}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
			{op: "update", payload: `{"state":{"reported":{"n":2}}}`, want: `{"state":{"reported":{"n":2}},"metadata":{"reported":{"n":{"timestamp":1700000000}}},"version":2,"timestamp":1700000000}`},
			{op: "delete", want: `{"version":2,"timestamp":1700000000}`},
			{op: "get", wantErr: &Error{Code: 404, Message: "No shadow exists with name: 'aws-case-13'"}},
			{op: "delete", wantErr: &Error{Code: 404, Message: "No shadow exists with name: 'aws-case-13'"}},
			{op: "update", payload: `{"state":{"desired":{"n":9}}}`, want: `{"state":{"desired":{"n":9}},"metadata":{"desired":{"n":{"timestamp":1700000000}}},"version":3,"timestamp":1700000000}`},
			{op: "get", want: `{"state":{"desired":{"n":9},"delta":{"n":9}},"metadata":{"desired":{"n":{"timestamp":1700000000}}},"version":3,"timestamp":1700000000}`},
		}},
		{"HTML-significant characters come back unescaped", []step{
			{op: "update", payload: `{"state":{"reported":{"msg":"a<b & c>d"}}}`, want: `{"state":{"reported":{"msg":"a<b & c>d"}},"metadata":{"reported":{"msg":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000}`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thing := fmt.Sprintf("aws-case-%d", i)
			for j, st := range tc.steps {
				what := fmt.Sprintf("step %d %s %s", j, st.op, st.payload)
				var got []byte
				var err error
				switch st.op {
				case "update":
					got, err = s.Update(testContext(t), thing, "", []byte(st.payload))
				case "get":
					got, err = s.Get(testContext(t), thing, "")
				case "delete":
					got, err = s.Delete(testContext(t), thing, "")
				}
				checkResult(t, what, got, err, st)
			}
		})
	}
}

func checkResult(t *testing.T, what string, got []byte, err error, st step) {
	t.Helper()
	if st.wantErr != nil {
		var e *Error
		if !errors.As(err, &e) || *e != *st.wantErr {
			t.Fatalf("%s: err %v, want %v", what, err, st.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	jsonEqual(t, what, got, st.want)
}

// TestBadUpdatesAreRejectedWithAWSMessagesAndChangeNothing sends each kind
// of bad update to an existing shadow: the answer is AWS's code and message
// and the stored shadow (version included) is exactly as before.
func TestBadUpdatesAreRejectedWithAWSMessagesAndChangeNothing(t *testing.T) {
	s, _, _ := newEnv(t, fixedClock())
	deep := `{"state":{"desired":{"a":{"b":{"c":{"d":{"e":1}}}}}}}`          // the state node is level 1, d's object level 6
	tooDeep := `{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}` // 7 levels
	for i, tc := range []struct {
		name, payload string
		want          Error
	}{
		{"malformed JSON", `{"state":{"desired":{"color":"red"}`, Error{Code: 400, Message: "Invalid JSON"}},
		{"not an object", `["state"]`, Error{Code: 400, Message: "Invalid JSON"}},
		{"empty payload", ``, Error{Code: 400, Message: "Invalid JSON"}},
		{"missing state", `{"desired":{"color":"red"}}`, Error{Code: 400, Message: "Missing required node: state"}},
		{"state is a string", `{"state":"on"}`, Error{Code: 400, Message: "State node must be an object"}},
		{"desired is an array", `{"state":{"desired":["red"]}}`, Error{Code: 400, Message: "Desired node must be an object"}},
		{"reported is a number", `{"state":{"reported":5}}`, Error{Code: 400, Message: "Reported node must be an object"}},
		{"state has a delta node", `{"state":{"delta":{"a":1}}}`, Error{Code: 400, Message: "State contains an invalid node: 'delta' (only desired and reported may be updated)"}},
		{"version is a string", `{"state":{"reported":{"a":1}},"version":"1"}`, Error{Code: 400, Message: "Invalid version"}},
		{"version is negative", `{"state":{"reported":{"a":1}},"version":-1}`, Error{Code: 400, Message: "Invalid version"}},
		{"version is a fraction", `{"state":{"reported":{"a":1}},"version":1.5}`, Error{Code: 400, Message: "Invalid version"}},
		{"clientToken is a number", `{"state":{"reported":{"a":1}},"clientToken":7}`, Error{Code: 400, Message: "Invalid clientToken"}},
		{"clientToken over 64 bytes", `{"state":{"reported":{"a":1}},"clientToken":"` + strings.Repeat("x", 65) + `"}`, Error{Code: 400, Message: "Invalid clientToken"}},
		{"nested 7 levels", tooDeep, Error{Code: 400, Message: "JSON contains too many levels of nesting; maximum is 6"}},
		{"not UTF-8", "{\"state\":{\"reported\":{\"a\":\"\xff\"}}}", Error{Code: 415, Message: "Unsupported documented encoding; supported encoding is UTF-8"}},
		{"state over the document limit", `{"state":{"reported":{"a":"` + strings.Repeat("x", DefaultMaxDocumentBytes) + `"}}}`, Error{Code: 413, Message: "The payload exceeds the maximum size allowed"}},
		{"request over 128 KiB", `{"state":{"reported":{"a":null}},"pad":"` + strings.Repeat(" ", 128<<10) + `"}`, Error{Code: 413, Message: "The payload exceeds the maximum size allowed"}},
		{"stale version", `{"state":{"reported":{"a":1}},"version":7}`, Error{Code: 409, Message: "Version conflict"}},
		{"number over float64", `{"state":{"reported":{"a":{"b":1e400}}}}`, Error{Code: 400, Message: "State contains an invalid node: the number 1e400 at state.reported.a.b is out of range: use a value within ±1.7976931348623157e308"}},
		{"negative number over float64 in an array", `{"state":{"desired":{"l":[1,-2e999]}}}`, Error{Code: 400, Message: "State contains an invalid node: the number -2e999 at state.desired.l[1] is out of range: use a value within ±1.7976931348623157e308"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thing := fmt.Sprintf("bad-%d", i)
			mustUpdate(t, s, thing, "", `{"state":{"reported":{"keep":"me"}}}`)
			mustUpdate(t, s, thing, "", deep) // 6 levels is allowed
			before := mustGet(t, s, thing, "")
			_, err := s.Update(testContext(t), thing, "", []byte(tc.payload))
			var e *Error
			if !errors.As(err, &e) || *e != tc.want {
				t.Fatalf("Update(%s): err %v, want %v", tc.payload, err, &tc.want)
			}
			if after := mustGet(t, s, thing, ""); string(after) != string(before) {
				t.Fatalf("a rejected update changed the shadow:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestErrorsMatchTheirSentinels lets the IPC front end map errors with
// errors.Is whatever the message.
func TestErrorsMatchTheirSentinels(t *testing.T) {
	s, _, _ := newEnv(t, fixedClock())
	ctx := testContext(t)
	_, err := s.Get(ctx, "nobody", "")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Fatalf("Get of a missing shadow: %v, want ErrNotFound", err)
	}
	_, err = s.Update(ctx, "t", "", []byte(`{"state":{},"version":3}`))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale version: %v, want ErrConflict", err)
	}
	_, err = s.Update(ctx, "t", "", []byte(`nope`))
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad JSON: %v, want ErrBadRequest", err)
	}
}
