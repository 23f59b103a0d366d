package deployment

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustDecode(t *testing.T, doc string) *Document {
	t.Helper()
	d, err := Decode([]byte(doc))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return d
}

func mustEncode(t *testing.T, d *Document) []byte {
	t.Helper()
	data, err := d.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestEveryValidDocumentRoundTripsThroughEncode(t *testing.T) {
	for _, tc := range validDocuments {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDecode(t, tc.doc)
			data := mustEncode(t, d)
			again := mustDecode(t, string(data))
			if !reflect.DeepEqual(again, d) {
				t.Errorf("Decode(Encode(d)) differs:\n got %#v\nwant %#v", again, d)
			}
			if data2 := mustEncode(t, again); string(data2) != string(data) {
				t.Errorf("encoding is not stable:\n%s\n%s", data, data2)
			}
		})
	}
}

func TestEncodeIsCanonical(t *testing.T) {
	d := mustDecode(t, `{"components": {"b.B": {"componentVersion": "2.0.0"}, "a.A": {"componentVersion": "1.0.0",
		"configurationUpdate": {"merge": "{\"z\": 1, \"a\": \"<&>\"}"}}}, "componentUpdatePolicy": {"timeoutInSeconds": 5}}`)
	want := `{"formatVersion":1,"groupName":"LOCAL","components":{"a.A":{"componentVersion":"1.0.0","configurationUpdate":{"merge":{"a":"<&>","z":1}}},"b.B":{"componentVersion":"2.0.0"}},` +
		`"deploymentPolicies":{"failureHandlingPolicy":"ROLLBACK","componentUpdatePolicy":{"action":"NOTIFY_COMPONENTS","timeoutInSeconds":5},"configurationValidationPolicy":{"timeoutInSeconds":30}}}`
	if got := string(mustEncode(t, d)); got != want {
		t.Errorf("Encode:\n got %s\nwant %s", got, want)
	}
}

func TestEncodeWritesEmptyComponentsAsAnObject(t *testing.T) {
	d := New("g")
	d.Components = nil
	if got := string(mustEncode(t, d)); !strings.Contains(got, `"components":{}`) {
		t.Errorf("Encode = %s", got)
	}
}

func TestValidateChecksDocumentsBuiltInCode(t *testing.T) {
	tests := []struct {
		name    string
		change  func(d *Document)
		wantErr string // empty: valid
	}{
		{"New is valid", func(d *Document) {}, ""},
		{"zero policies are refused, so a forgotten default is caught", func(d *Document) { d.Policies = Policies{} },
			`deploymentPolicies.failureHandlingPolicy: "" is not a failure handling policy`},
		{"zero format version", func(d *Document) { d.FormatVersion = 0 }, "formatVersion: is 0"},
		{"zero limits mean no limit", func(d *Document) {
			d.Components["A"] = Component{Version: "1.0.0", RunWith: RunWith{PosixUser: "u"}}
		}, ""},
		{"negative cpus", func(d *Document) {
			d.Components["A"] = Component{Version: "1.0.0", RunWith: RunWith{SystemResourceLimits: SystemResourceLimits{CPUs: -1}}}
		}, "components.A.runWith.systemResourceLimits.cpus: is -1"},
		{"bad reset pointer", func(d *Document) {
			d.Components["com.example.A"] = Component{Version: "1.0.0", ConfigurationUpdate: ConfigurationUpdate{Reset: []string{"", "x"}}}
		}, `components["com.example.A"].configurationUpdate.reset[1]: "x" is not a JSON pointer`},
		{"versionless component outside LOCAL", func(d *Document) { d.Components["A"] = Component{} }, "components.A.componentVersion: is missing"},
		{"timeout too long", func(d *Document) { d.Policies.ConfigurationValidation.TimeoutSeconds = MaxTimeoutSeconds + 1 },
			"configurationValidationPolicy.timeoutInSeconds: is 86401"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New("group-1")
			tc.change(d)
			err := d.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.wantErr)
			case tc.wantErr != "" && !errors.Is(err, ErrInvalid):
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if _, encErr := d.Encode(); (encErr == nil) != (err == nil) {
				t.Errorf("Encode error %v disagrees with Validate error %v", encErr, err)
			}
		})
	}
}

func TestRootComponents(t *testing.T) {
	previous := map[string]string{"A": "1.0.0", "B": "1.0.0", "C": "1.0.0"}
	tests := []struct {
		name string
		doc  string
		want map[string]string
	}{
		{"LOCAL adds, updates, removes and keeps the rest",
			`{"components": {"A": {"componentVersion": "2.0.0"}, "D": {"componentVersion": "1.0.0"}}, "componentsToRemove": ["B"]}`,
			map[string]string{"A": "2.0.0", "C": "1.0.0", "D": "1.0.0"}},
		{"LOCAL configuration-only change keeps the version",
			`{"components": {"C": {"configurationUpdate": {"merge": {"x": 1}}}}}`,
			previous},
		{"LOCAL configuration-only change of a component of another group adds no root",
			`{"components": {"Z": {"configurationUpdate": {"reset": [""]}}}}`,
			previous},
		{"removing what is not deployed is a no-op",
			`{"componentsToRemove": ["Z"]}`,
			previous},
		{"a thing group's document replaces the previous set",
			`{"groupName": "fleet", "components": {"A": {"componentVersion": "3.0.0"}}}`,
			map[string]string{"A": "3.0.0"}},
		{"an empty thing group document removes everything",
			`{"groupName": "fleet", "components": {}}`,
			map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustDecode(t, tc.doc).RootComponents(previous)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("roots = %v, want %v", got, tc.want)
			}
		})
	}
	if previous["B"] != "1.0.0" {
		t.Errorf("RootComponents changed the previous set")
	}
}
