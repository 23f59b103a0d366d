package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	ddoc "github.com/sward-iot/sward/shared/deployment"
)

func TestParseMergeFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{"none", nil, map[string]string{}, ""},
		{"several", []string{"com.example.A=1.0.0", "B=2.1.0-beta+7"}, map[string]string{"com.example.A": "1.0.0", "B": "2.1.0-beta+7"}, ""},
		{"same component and version twice", []string{"A=1.0.0", "A=1.0.0"}, map[string]string{"A": "1.0.0"}, ""},
		{"no '='", []string{"A"}, nil, `--merge "A": has no '='; write Name=Version`},
		{"empty name", []string{"=1.0.0"}, nil, `--merge "=1.0.0": component name is empty`},
		{"bad name", []string{"a b=1.0.0"}, nil, `--merge "a b=1.0.0": component name "a b" has characters Greengrass refuses`},
		{"empty version", []string{"A="}, nil, `--merge "A=": version "" is not a semantic version`},
		{"loose version", []string{"A=1.0"}, nil, `version "1.0" is not a semantic version`},
		{"'=' in the version", []string{"A=1.0.0=2"}, nil, `"1.0.0=2" is not a semantic version`},
		{"two versions of one component", []string{"A=1.0.0", "A=2.0.0"}, nil, `--merge "A=2.0.0": A is also merged at version 1.0.0`},
		{"every bad argument is reported", []string{"X", "Y"}, nil, `--merge "Y"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMerge(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ddoc.ErrInvalid) {
					t.Fatalf("err = %v, want ddoc.ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseMerge = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseUpdateConfigFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]ddoc.ConfigurationUpdate
		wantErr string
	}{
		{"greengrass-cli spelling", `{"com.example.A": {"MERGE": {"port": 8080}, "RESET": ["/debug", ""]}}`,
			map[string]ddoc.ConfigurationUpdate{"com.example.A": {Merge: map[string]any{"port": float64(8080)}, Reset: []string{"/debug", ""}}}, ""},
		{"document spelling", `{"A": {"merge": {"x": [1, "y"]}, "reset": ["/z"]}}`,
			map[string]ddoc.ConfigurationUpdate{"A": {Merge: map[string]any{"x": []any{float64(1), "y"}}, Reset: []string{"/z"}}}, ""},
		{"only reset", `{"A": {"RESET": [""]}}`, map[string]ddoc.ConfigurationUpdate{"A": {Reset: []string{""}}}, ""},
		{"empty object", `{}`, map[string]ddoc.ConfigurationUpdate{}, ""},
		{"not JSON", `{"A": {MERGE}}`, nil, "--update-config is not valid JSON (line 1, column 8)"},
		{"empty text", ``, nil, "--update-config is not valid JSON"},
		{"a list", `[]`, nil, "--update-config: is a list; it must be an object of component name"},
		{"both spellings", `{"A": {"MERGE": {}, "merge": {}}}`, nil, `--update-config.A.merge: is given twice, as "MERGE" and "merge"`},
		{"unknown key", `{"A": {"UPDATE": {}}}`, nil, "--update-config.A.UPDATE: is not a known field; the fields here are MERGE, RESET"},
		{"MERGE not an object", `{"com.example.A": {"MERGE": 5}}`, nil, `--update-config["com.example.A"].MERGE: is the number 5; it must be an object`},
		{"bad pointer", `{"A": {"RESET": ["/ok", "bad"]}}`, nil, `--update-config.A.RESET[1]: "bad" is not a JSON pointer`},
		{"bad component name", `{"a b": {"RESET": [""]}}`, nil, `--update-config["a b"]: component name "a b" has characters`},
		{"component not an object", `{"A": "x"}`, nil, `--update-config.A: is the text "x"; it must be an object such as {"MERGE"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUpdateConfig(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ddoc.ErrInvalid) {
					t.Fatalf("err = %v, want ddoc.ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseUpdateConfig = %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

func TestLocalDocumentIsBuiltFromTheFlags(t *testing.T) {
	merge, err := parseMerge([]string{"com.example.A=1.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	update, err := parseUpdateConfig(`{"com.example.A": {"MERGE": {"port": 1}}, "com.example.B": {"RESET": [""]}}`)
	if err != nil {
		t.Fatal(err)
	}
	d, err := localDocument(localRequest{
		merge:           merge,
		remove:          []string{"com.example.Old"},
		updateConfig:    update,
		runWith:         map[string]ddoc.RunWith{"com.example.A": {PosixUser: "app:app"}},
		failureHandling: ddoc.DoNothing,
	})
	if err != nil {
		t.Fatalf("localDocument: %v", err)
	}
	want := `{"formatVersion":1,"groupName":"LOCAL","components":{` +
		`"com.example.A":{"componentVersion":"1.2.0","configurationUpdate":{"merge":{"port":1}},"runWith":{"posixUser":"app:app"}},` +
		`"com.example.B":{"configurationUpdate":{"reset":[""]}}},"componentsToRemove":["com.example.Old"],` +
		`"deploymentPolicies":{"failureHandlingPolicy":"DO_NOTHING","componentUpdatePolicy":{"action":"NOTIFY_COMPONENTS","timeoutInSeconds":60},"configurationValidationPolicy":{"timeoutInSeconds":30}}}`
	if got := string(mustEncode(t, d)); got != want {
		t.Errorf("local document:\n got %s\nwant %s", got, want)
	}
	roots := d.RootComponents(map[string]string{"com.example.B": "1.0.0", "com.example.Old": "1.0.0"})
	if !reflect.DeepEqual(roots, map[string]string{"com.example.A": "1.2.0", "com.example.B": "1.0.0"}) {
		t.Errorf("RootComponents = %v", roots)
	}
}

func TestLocalDocumentRefusesContradictoryFlags(t *testing.T) {
	tests := []struct {
		name    string
		req     localRequest
		wantErr string
	}{
		{"merge and remove the same component", localRequest{merge: map[string]string{"A": "1.0.0"}, remove: []string{"A"}},
			`componentsToRemove[0]: "A" is also in components`},
		{"update and remove the same component", localRequest{updateConfig: map[string]ddoc.ConfigurationUpdate{"A": {Reset: []string{""}}}, remove: []string{"A"}},
			`"A" is also in components`},
		{"unknown failure handling policy", localRequest{failureHandling: "ROLLBACK_PLEASE"},
			`"ROLLBACK_PLEASE" is not a failure handling policy`},
		{"bad remove name", localRequest{remove: []string{"a/b"}}, "componentsToRemove[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localDocument(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLocalDocumentWithNothingToDoIsValid(t *testing.T) {
	// greengrass-cli allows it: it redeploys the group with newer recipes.
	d, err := localDocument(localRequest{})
	if err != nil || !d.Local() || len(d.Components) != 0 {
		t.Fatalf("localDocument({}) = %+v, %v", d, err)
	}
}

func TestParseSystemLimitsFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]ddoc.SystemResourceLimits
		wantErr string
	}{
		{"cpus and memory", `{"com.example.A": {"cpus": 0.5, "memory": 102400}}`,
			map[string]ddoc.SystemResourceLimits{"com.example.A": {CPUs: 0.5, Memory: 102400}}, ""},
		{"memory only", `{"A": {"memory": 1024}}`, map[string]ddoc.SystemResourceLimits{"A": {Memory: 1024}}, ""},
		{"not JSON", `{"A": }`, nil, "--systemLimits is not valid JSON"},
		{"unknown field", `{"A": {"cpu": 1}}`, nil, "--systemLimits.A.cpu: is not a known field; the fields here are cpus, memory"},
		{"zero cpus", `{"A": {"cpus": 0}}`, nil, "--systemLimits.A.cpus: is 0; give a positive number of CPUs"},
		{"fractional memory", `{"A": {"memory": 1.5}}`, nil, "--systemLimits.A.memory: is the number 1.5"},
		{"bad component name", `{"a b": {"memory": 1}}`, nil, `--systemLimits["a b"]: component name "a b" has characters`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSystemLimits(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ddoc.ErrInvalid) {
					t.Fatalf("err = %v, want ddoc.ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseResourceLimitsFlag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ddoc.SystemResourceLimits
		wantErr string
	}{
		{"both", `{"cpus": 1, "memory": 262144}`, ddoc.SystemResourceLimits{CPUs: 1, Memory: 262144}, ""},
		{"cpus only", `{"cpus": 0.25}`, ddoc.SystemResourceLimits{CPUs: 0.25}, ""},
		{"unknown field", `{"mem": 1}`, ddoc.SystemResourceLimits{}, "--default-system-limits.mem: is not a known field"},
		{"negative memory", `{"memory": -5}`, ddoc.SystemResourceLimits{}, "--default-system-limits.memory: is -5; give a positive number of kilobytes"},
		{"not an object", `2`, ddoc.SystemResourceLimits{}, "--default-system-limits: is the number 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResourceLimits("--default-system-limits", tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ddoc.ErrInvalid) {
					t.Fatalf("err = %v, want ddoc.ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func mustEncode(t *testing.T, d *ddoc.Document) []byte {
	t.Helper()
	data, err := d.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}
