package deployment

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// full is a document that uses every field.
const full = `{
  "formatVersion": 1,
  "deploymentId": "d-1",
  "groupName": "sensors",
  "components": {
    "com.example.A": {
      "componentVersion": "1.2.0",
      "configurationUpdate": {"merge": {"port": 8080, "tags": ["a", {"b": true}], "nested": {"x": null}}, "reset": ["/debug", "", "/a~1b/~0c"]},
      "runWith": {"posixUser": "ggc_user:ggc_group", "windowsUser": "wu", "systemResourceLimits": {"cpus": 0.5, "memory": 102400}}
    },
    "aws.greengrass.Cli": {"componentVersion": "2.12.0-rc.1+build.5"}
  },
  "deploymentPolicies": {
    "failureHandlingPolicy": "DO_NOTHING",
    "componentUpdatePolicy": {"action": "SKIP_NOTIFY_COMPONENTS", "timeoutInSeconds": 0},
    "configurationValidationPolicy": {"timeoutInSeconds": 86400}
  }
}`

var validDocuments = []struct {
	name  string
	doc   string
	check func(t *testing.T, d *Document)
}{
	{"every field", full, func(t *testing.T, d *Document) {
		a := d.Components["com.example.A"]
		want := Component{
			Version: "1.2.0",
			ConfigurationUpdate: ConfigurationUpdate{
				Merge: map[string]any{"port": float64(8080), "tags": []any{"a", map[string]any{"b": true}}, "nested": map[string]any{"x": nil}},
				Reset: []string{"/debug", "", "/a~1b/~0c"},
			},
			RunWith: RunWith{PosixUser: "ggc_user:ggc_group", WindowsUser: "wu", SystemResourceLimits: SystemResourceLimits{CPUs: 0.5, Memory: 102400}},
		}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("component = %#v\nwant %#v", a, want)
		}
		wantPolicies := Policies{DoNothing, ComponentUpdatePolicy{SkipNotifyComponents, 0}, ValidationPolicy{86400}}
		if d.Policies != wantPolicies || d.GroupName != "sensors" || d.DeploymentID != "d-1" {
			t.Errorf("header: %+v", d)
		}
	}},
	{"minimal document takes format 1, group LOCAL and Greengrass's default policies", `{"components": {}}`, func(t *testing.T, d *Document) {
		if d.FormatVersion != 1 || d.GroupName != LocalGroup || d.Policies != DefaultPolicies() || d.Components == nil {
			t.Errorf("defaults not applied: %+v", d)
		}
		if d.Policies.ComponentUpdate.TimeoutSeconds != 60 || d.Policies.ConfigurationValidation.TimeoutSeconds != 30 {
			t.Errorf("timeouts: %+v", d.Policies)
		}
	}},
	{"empty object is an empty LOCAL deployment", `{}`, nil},
	{"policies at the top level as in Greengrass's job document", `{"groupName": "g", "components": {"A": {"componentVersion": "1.0.0"}},
		"failureHandlingPolicy": "DO_NOTHING", "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 5},
		"configurationValidationPolicy": {"timeoutInSeconds": 7}}`, func(t *testing.T, d *Document) {
		want := Policies{DoNothing, ComponentUpdatePolicy{NotifyComponents, 5}, ValidationPolicy{7}}
		if d.Policies != want {
			t.Errorf("policies = %+v, want %+v", d.Policies, want)
		}
	}},
	{"one policy nested and another at the top level", `{"deploymentPolicies": {"failureHandlingPolicy": "DO_NOTHING"}, "componentUpdatePolicy": {"timeoutInSeconds": 9}}`, func(t *testing.T, d *Document) {
		if d.Policies.FailureHandling != DoNothing || d.Policies.ComponentUpdate != (ComponentUpdatePolicy{NotifyComponents, 9}) {
			t.Errorf("policies = %+v", d.Policies)
		}
	}},
	{"merge as a serialized JSON string, as the CreateDeployment API sends it", `{"components": {"A": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": "{\"port\": 1}"}}}}`, func(t *testing.T, d *Document) {
		if got := d.Components["A"].ConfigurationUpdate.Merge; !reflect.DeepEqual(got, map[string]any{"port": float64(1)}) {
			t.Errorf("merge = %#v", got)
		}
	}},
	{"LOCAL component without a version is a configuration-only change", `{"components": {"A": {"configurationUpdate": {"reset": [""]}}}, "componentsToRemove": ["B", "C"]}`, func(t *testing.T, d *Document) {
		if d.Components["A"].Version != "" || !reflect.DeepEqual(d.ComponentsToRemove, []string{"B", "C"}) {
			t.Errorf("got %+v", d)
		}
	}},
	{"empty merge and reset mean no change", `{"components": {"A": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": {}, "reset": []}, "runWith": {}}}}`, func(t *testing.T, d *Document) {
		if !reflect.DeepEqual(d.Components["A"], Component{Version: "1.0.0"}) {
			t.Errorf("got %#v", d.Components["A"])
		}
	}},
	{"posixUser with numeric ids and limits with only memory", `{"components": {"A": {"componentVersion": "1.0.0", "runWith": {"posixUser": "1000:1000", "systemResourceLimits": {"memory": 1}}}}}`, nil},
	{"posixUser without a group", `{"components": {"A": {"componentVersion": "1.0.0", "runWith": {"posixUser": "nobody"}}}}`, nil},
	{"cpus as an integer", `{"components": {"A": {"componentVersion": "1.0.0", "runWith": {"systemResourceLimits": {"cpus": 2}}}}}`, nil},
	{"group names are thing group names", `{"groupName": "thing:arn_like-Name_1", "components": {}}`, nil},
	{"a thing group's document names where its recipes are", `{"groupName": "g", "components": {"com.example.A": {` + v1 + `}},
		"recipeSource": {"bucket": "sward-artifacts-1", "prefix": "releases/3f2a/recipes/"}}`, func(t *testing.T, d *Document) {
		want := &RecipeSource{Bucket: "sward-artifacts-1", Prefix: "releases/3f2a/recipes/"}
		if !reflect.DeepEqual(d.RecipeSource, want) {
			t.Fatalf("recipeSource = %+v, want %+v", d.RecipeSource, want)
		}
		if got := d.RecipeSource.RecipeKey("com.example.A", "1.0.0"); got != "releases/3f2a/recipes/com.example.A-1.0.0.recipe.yaml" {
			t.Errorf("RecipeKey = %s", got)
		}
	}},
}

func TestValidDocumentsDecodeToWhatTheySay(t *testing.T) {
	for _, tc := range validDocuments {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

const v1 = `"componentVersion": "1.0.0"`

var invalidDocuments = []struct {
	name string
	doc  string
	want []string // substrings of the error, in any order
}{
	// Syntax and the whole document.
	{"not JSON", `{"components": }`, []string{"the document is not valid JSON (line 1, column 16)"}},
	{"truncated", `{"components": {`, []string{"not valid JSON", "unexpected end of input"}},
	{"trailing data", `{} {}`, []string{"more data after the end"}},
	{"text that is not UTF-8", "{\"groupName\": \"caf\xe9\"}", []string{"the document is not valid JSON (line 1, column 16): a string is not valid UTF-8; send UTF-8 text"}},
	{"merge string with a key given twice", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": "{\"p\": 1, \"p\": 2}"}}}}`, []string{"components.A.configurationUpdate.merge.p: is given twice in one object; keep one"}},
	{"a list instead of an object", `[]`, []string{"the document is a list; it must be a JSON object"}},
	{"null document", `null`, []string{"the document is null"}},
	{"duplicate top-level key", `{"groupName": "a", "groupName": "b"}`, []string{"groupName: is given twice in one object"}},
	{"duplicate component", `{"components": {"A": {` + v1 + `}, "A": {` + v1 + `}}}`, []string{`components.A: is given twice`}},
	{"nesting too deep", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": ` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `}}}}`, []string{"nests deeper than 64 levels"}},
	{"merge deeper than configurations may nest", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": ` + strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33) + `}}}}`, []string{"components.A.configurationUpdate.merge: nests 33 objects deep; configurations are at most 32 deep"}},
	{"oversize", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": {"x": "` + strings.Repeat("x", MaxDocumentSize) + `"}}}}}`, []string{"over the 65536-byte limit"}},

	// Unknown fields at each level.
	{"unknown top-level field", `{"deploymentName": "x"}`, []string{"deploymentName: is not a known field; the fields here are formatVersion, deploymentId"}},
	{"wrong case at the top level", `{"Components": {}}`, []string{`Components: is not a known field; did you mean "components"?`}},
	{"unknown component field", `{"components": {"com.example.A": {` + v1 + `, "version": "1.0.0"}}}`, []string{`components["com.example.A"].version: is not a known field; the fields here are componentVersion, configurationUpdate, runWith`}},
	{"unknown configurationUpdate field", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"MERGE": {}}}}}`, []string{`components.A.configurationUpdate.MERGE: is not a known field; did you mean "merge"?`}},
	{"unknown runWith field", `{"components": {"A": {` + v1 + `, "runWith": {"user": "x"}}}}`, []string{"components.A.runWith.user: is not a known field"}},
	{"unknown systemResourceLimits field", `{"components": {"A": {` + v1 + `, "runWith": {"systemResourceLimits": {"cpu": 1}}}}}`, []string{"components.A.runWith.systemResourceLimits.cpu: is not a known field; the fields here are cpus, memory"}},
	{"unknown deploymentPolicies field", `{"deploymentPolicies": {"rollback": true}}`, []string{"deploymentPolicies.rollback: is not a known field"}},
	{"unknown componentUpdatePolicy field", `{"deploymentPolicies": {"componentUpdatePolicy": {"timeout": 5}}}`, []string{"deploymentPolicies.componentUpdatePolicy.timeout: is not a known field; the fields here are action, timeoutInSeconds"}},
	{"unknown configurationValidationPolicy field", `{"configurationValidationPolicy": {"timeoutInSeconds": 5, "x": 1}}`, []string{"configurationValidationPolicy.x: is not a known field"}},

	// Wrong types at each level.
	{"formatVersion as text", `{"formatVersion": "1"}`, []string{`formatVersion: is the text "1"; write the format version as a whole number`}},
	{"deploymentId as a number", `{"deploymentId": 7}`, []string{"deploymentId: is the number 7; write the deployment id as a JSON string"}},
	{"groupName null", `{"groupName": null}`, []string{"groupName: is null"}},
	{"components as a list", `{"components": []}`, []string{"components: is a list; it must be an object of component name"}},
	{"component as text", `{"components": {"A": "1.0.0"}}`, []string{`components.A: is the text "1.0.0"; it must be an object such as {"componentVersion": "1.0.0"}`}},
	{"componentVersion as a number", `{"components": {"A": {"componentVersion": 1.0}}}`, []string{"components.A.componentVersion: is the number 1.0; write the version"}},
	{"configurationUpdate as a list", `{"components": {"A": {` + v1 + `, "configurationUpdate": []}}}`, []string{"components.A.configurationUpdate: is a list; it must be an object with merge and reset"}},
	{"merge as a list", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": [1]}}}}`, []string{"components.A.configurationUpdate.merge: is a list; it must be an object of configuration keys"}},
	{"merge as a string that is not an object", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": "[1]"}}}}`, []string{"merge: is a list; it must be an object"}},
	{"merge as a string that is not JSON", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": "{x"}}}}`, []string{"merge: is a string holding JSON, but the string is not valid JSON (line 1, column 2)"}},
	{"reset as text", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"reset": "/x"}}}}`, []string{`components.A.configurationUpdate.reset: is the text "/x"; write a list of JSON pointers`}},
	{"reset entry as a number", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"reset": ["/x", 1]}}}}`, []string{"components.A.configurationUpdate.reset[1]: is the number 1"}},
	{"runWith as text", `{"components": {"A": {` + v1 + `, "runWith": "root"}}}`, []string{`components.A.runWith: is the text "root"`}},
	{"posixUser as a number", `{"components": {"A": {` + v1 + `, "runWith": {"posixUser": 0}}}}`, []string{"components.A.runWith.posixUser: is the number 0"}},
	{"cpus as text", `{"components": {"A": {` + v1 + `, "runWith": {"systemResourceLimits": {"cpus": "1"}}}}}`, []string{`cpus: is the text "1"; write the number of CPUs as a number`}},
	{"memory fractional", `{"components": {"A": {` + v1 + `, "runWith": {"systemResourceLimits": {"memory": 1.5}}}}}`, []string{"memory: is the number 1.5; write the memory limit in kilobytes as a whole number"}},
	{"deploymentPolicies as a list", `{"deploymentPolicies": []}`, []string{"deploymentPolicies: is a list; it must be an object"}},
	{"failureHandlingPolicy as a boolean", `{"deploymentPolicies": {"failureHandlingPolicy": true}}`, []string{"deploymentPolicies.failureHandlingPolicy: is the boolean true; write ROLLBACK or DO_NOTHING"}},
	{"timeout as text", `{"deploymentPolicies": {"componentUpdatePolicy": {"timeoutInSeconds": "60"}}}`, []string{`deploymentPolicies.componentUpdatePolicy.timeoutInSeconds: is the text "60"`}},
	{"componentsToRemove as text", `{"componentsToRemove": "A"}`, []string{`componentsToRemove: is the text "A"; write a list of component names`}},

	// Values.
	{"unknown format version", `{"formatVersion": 2}`, []string{"formatVersion: is 2; this Sward reads format 1 only"}},
	{"bad deploymentId", `{"deploymentId": "a/b"}`, []string{`deploymentId: "a/b" is not a deployment id`}},
	{"empty groupName", `{"groupName": ""}`, []string{"groupName: is empty"}},
	{"bad groupName", `{"groupName": "my group"}`, []string{`groupName: "my group" is not a group name`}},
	{"bad component name", `{"components": {"com/example": {` + v1 + `}}}`, []string{`components["com/example"]: component name "com/example" has characters Greengrass refuses`}},
	{"non-strict semver", `{"components": {"A": {"componentVersion": "1.0"}}}`, []string{`components.A.componentVersion: "1.0" is not a semantic version`}},
	{"v-prefixed version", `{"components": {"A": {"componentVersion": "v1.0.0"}}}`, []string{`"v1.0.0" is not a semantic version`}},
	{"empty version", `{"components": {"A": {"componentVersion": ""}}}`, []string{"components.A.componentVersion: is empty"}},
	{"missing version outside LOCAL", `{"groupName": "g", "components": {"A": {}}}`, []string{"components.A.componentVersion: is missing"}},
	{"pointer without a leading slash", `{"components": {"com.example.A": {` + v1 + `, "configurationUpdate": {"reset": ["/ok", "x/y"]}}}}`, []string{`components["com.example.A"].configurationUpdate.reset[1]: "x/y" is not a JSON pointer; start it with '/'`}},
	{"pointer with a bad escape", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"reset": ["/a~2"]}}}}`, []string{"reset[0]: \"/a~2\" has a '~' not followed by 0 or 1"}},
	{"pointer too long", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"reset": ["/` + strings.Repeat("a", 256) + `"]}}}}`, []string{"reset[0]: is 257 characters long; Greengrass allows at most 256"}},
	{"number out of range in merge", `{"components": {"A": {` + v1 + `, "configurationUpdate": {"merge": {"big": [1e999]}}}}}`, []string{"merge.big[0]: 1e999 is out of range"}},
	{"posixUser with a space", `{"components": {"A": {` + v1 + `, "runWith": {"posixUser": "my user"}}}}`, []string{`runWith.posixUser: "my user" is not a POSIX user`}},
	{"posixUser with an empty group", `{"components": {"A": {` + v1 + `, "runWith": {"posixUser": "user:"}}}}`, []string{`"user:" is not a POSIX user`}},
	{"posixUser with three parts", `{"components": {"A": {` + v1 + `, "runWith": {"posixUser": "a:b:c"}}}}`, []string{`"a:b:c" is not a POSIX user`}},
	{"empty windowsUser", `{"components": {"A": {` + v1 + `, "runWith": {"windowsUser": ""}}}}`, []string{"runWith.windowsUser: is empty"}},
	{"zero cpus", `{"components": {"A": {` + v1 + `, "runWith": {"systemResourceLimits": {"cpus": 0}}}}}`, []string{"cpus: is 0; give a positive number of CPUs"}},
	{"negative memory", `{"components": {"A": {` + v1 + `, "runWith": {"systemResourceLimits": {"memory": -1}}}}}`, []string{"memory: is -1; give a positive number of kilobytes"}},
	{"bad failure policy", `{"deploymentPolicies": {"failureHandlingPolicy": "rollback"}}`, []string{`deploymentPolicies.failureHandlingPolicy: "rollback" is not a failure handling policy; use ROLLBACK (the default) or DO_NOTHING`}},
	{"bad update action", `{"deploymentPolicies": {"componentUpdatePolicy": {"action": "NOTIFY"}}}`, []string{`deploymentPolicies.componentUpdatePolicy.action: "NOTIFY" is not a component update action`}},
	{"negative timeout", `{"deploymentPolicies": {"componentUpdatePolicy": {"timeoutInSeconds": -1}}}`, []string{"timeoutInSeconds: is -1; give 0 to 86400 seconds"}},
	{"timeout over a day", `{"deploymentPolicies": {"configurationValidationPolicy": {"timeoutInSeconds": 86401}}}`, []string{"deploymentPolicies.configurationValidationPolicy.timeoutInSeconds: is 86401"}},
	{"policy both nested and at the top level", `{"failureHandlingPolicy": "ROLLBACK", "deploymentPolicies": {"failureHandlingPolicy": "ROLLBACK"}}`, []string{"failureHandlingPolicy: is also given in deploymentPolicies.failureHandlingPolicy; keep one"}},
	{"componentsToRemove outside LOCAL", `{"groupName": "g", "componentsToRemove": ["A"]}`, []string{"componentsToRemove: is only for LOCAL deployments"}},
	{"component both deployed and removed", `{"components": {"A": {` + v1 + `}}, "componentsToRemove": ["A"]}`, []string{`componentsToRemove[0]: "A" is also in components`}},
	{"removal listed twice", `{"componentsToRemove": ["A", "A"]}`, []string{`componentsToRemove[1]: "A" is listed twice`}},
	{"bad removal name", `{"componentsToRemove": [""]}`, []string{"componentsToRemove[0]: is empty"}},
	{"recipeSource on a LOCAL document", `{"recipeSource": {"bucket": "abc", "prefix": "p/"}}`, []string{"recipeSource: is only for thing group deployments"}},
	{"recipeSource without a prefix", `{"groupName": "g", "recipeSource": {"bucket": "abc"}}`, []string{"recipeSource.prefix: is missing; recipeSource needs bucket and prefix"}},
	{"recipeSource with an unknown field", `{"groupName": "g", "recipeSource": {"bucket": "abc", "prefix": "p/", "region": "x"}}`, []string{"recipeSource.region: is not a known field; the fields here are bucket, prefix"}},
	{"recipeSource with a bad bucket", `{"groupName": "g", "recipeSource": {"bucket": "My_Bucket", "prefix": "p/"}}`, []string{`recipeSource.bucket: "My_Bucket" is not an S3 bucket name`}},
	{"recipeSource prefix that is not a folder", `{"groupName": "g", "recipeSource": {"bucket": "abc", "prefix": "releases/x"}}`, []string{`recipeSource.prefix: "releases/x" does not end in '/'`}},
	{"recipeSource bucket as a number", `{"groupName": "g", "recipeSource": {"bucket": 1, "prefix": "p/"}}`, []string{"recipeSource.bucket: is the number 1; write the bucket as a JSON string"}},

	// Every problem is reported, not just the first.
	{"several problems at once", `{"groupName": 1, "components": {"A": {"componentVersion": "x"}}, "extra": 0}`, []string{"groupName: is the number 1", `components.A.componentVersion: "x" is not a semantic version`, "extra: is not a known field"}},
}

func TestInvalidDocumentsAreRefusedNamingFieldPathAndFix(t *testing.T) {
	if len(invalidDocuments) < 25 {
		t.Fatalf("invalid corpus has %d documents, want at least 25", len(invalidDocuments))
	}
	for _, tc := range invalidDocuments {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", d)
			}
			if d != nil {
				t.Errorf("Decode returned a document with the error")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error does not wrap ErrInvalid or ErrTooLarge: %v", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestDecodeReportsAWrongTypeOnceNotAlsoAsEmpty(t *testing.T) {
	_, err := Decode([]byte(`{"groupName": 5, "components": {"A": {"componentVersion": 5}}}`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, path := range []string{"groupName:", "components.A.componentVersion:"} {
		if c := strings.Count(err.Error(), path); c != 1 {
			t.Errorf("%s reported %d times, want once:\n%v", path, c, err)
		}
	}
}

func TestOversizeIsErrTooLarge(t *testing.T) {
	_, err := Decode(make([]byte, MaxDocumentSize+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	doc := New(LocalGroup)
	doc.Components["A"] = Component{Version: "1.0.0", ConfigurationUpdate: ConfigurationUpdate{Merge: map[string]any{"x": strings.Repeat("x", MaxDocumentSize)}}}
	if _, err := doc.Encode(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode err = %v, want ErrTooLarge: Encode must not write what Decode refuses", err)
	}
}

func TestDecodeListsAtMost50ProblemsQuickly(t *testing.T) {
	doc := `{"components": {"A": {"componentVersion": "1.0.0", "configurationUpdate": {"reset": [` +
		strings.TrimSuffix(strings.Repeat(`"x",`, 15000), ",") + `]}}}}`
	_, err := Decode([]byte(doc))
	if err == nil {
		t.Fatal("accepted")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 51 || !strings.HasSuffix(err.Error(), "and 14950 more problems") {
		t.Errorf("got %d lines ending %q", n, err.Error()[len(err.Error())-40:])
	}
}
