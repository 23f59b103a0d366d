package release

import (
	"os"
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

const commit = "3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708"

func fixture(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/release.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDecodeTheDocumentedManifest(t *testing.T) {
	m, err := Decode([]byte(fixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	if m.CommitID != commit || m.ThingGroup != "sward-devices" || len(m.Components) != 2 || m.Selection() != Snapshot {
		t.Errorf("manifest = %+v", m)
	}
	if m.Policies.ComponentUpdate.TimeoutSeconds != deployment.DefaultUpdateTimeoutSeconds {
		t.Errorf("policies left out did not get the defaults: %+v", m.Policies)
	}
	doc, err := m.Deployment().Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := deployment.Decode(doc)
	if err != nil {
		t.Fatalf("the deployment document does not decode: %v\n%s", err, doc)
	}
	if back.DeploymentID != "sward-"+commit || back.GroupName != "sward-devices" || back.Components["com.example.Lib"].Version != "2.1.0" ||
		back.Components["com.example.Hello"].ConfigurationUpdate.Merge["greeting"] != "hi" {
		t.Errorf("deployment document = %s", doc)
	}
	again, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(again); err != nil {
		t.Errorf("an encoded manifest does not decode: %v", err)
	}
}

func TestDecodeRefusesBadManifestsWithThePath(t *testing.T) {
	base := fixture(t)
	for _, tc := range []struct {
		name     string
		old, new string
		want     string
	}{
		{"short commit", `"commitId": "` + commit + `"`, `"commitId": "3f2a9c0"`, "commitId: \"3f2a9c0\" is not a full commit id"},
		{"bad group", `"thingGroup": "sward-devices"`, `"thingGroup": "a group"`, `thingGroup: "a group" is not a thing group name`},
		{"recipe elsewhere", `"key": "releases/` + commit + `/recipes/com.example.Lib-2.1.0.recipe.yaml"`, `"key": "recipes/lib.yaml"`, `components["com.example.Lib"].recipe.key: is "recipes/lib.yaml"; a release's recipes live at releases/`},
		{"bad digest", `"sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="`, `"sha256": "abc"`, `components["com.example.Hello"].artifacts[0].sha256: is not a base64 SHA-256 digest`},
		{"bad version", `"componentVersion": "2.1.0"`, `"componentVersion": "2.1"`, `components["com.example.Lib"].componentVersion:`},
		{"bad policy (checked by shared/deployment)", `"failureHandlingPolicy": "ROLLBACK"`, `"failureHandlingPolicy": "RETRY"`, `deploymentPolicies.failureHandlingPolicy: "RETRY" is not a failure handling policy`},
		{"bad selection", `"targetSelection": "SNAPSHOT"`, `"targetSelection": "ALL"`, `targetSelection: "ALL" is not a target selection`},
		{"bad factor", `"incrementFactor": 2`, `"incrementFactor": 7`, "rollout.exponentialRate.incrementFactor: is 7; give 1.1 to 5"},
		{"both criteria", `"numberOfSucceededThings": 5`, `"numberOfSucceededThings": 5, "numberOfNotifiedThings": 5`, "rateIncreaseCriteria: needs exactly one of"},
		{"bad failure type", `"failureType": "FAILED"`, `"failureType": "BROKEN"`, `abort.criteria[0].failureType: "BROKEN" is not a failure type`},
		{"threshold over 100", `"thresholdPercentage": 20`, `"thresholdPercentage": 120`, "abort.criteria[0].thresholdPercentage: is 120"},
		{"timeout too long", `"inProgressTimeoutInMinutes": 60`, `"inProgressTimeoutInMinutes": 20000`, "inProgressTimeoutInMinutes: is 20000"},
		{"unknown field", `"targetSelection"`, `"targetselection"`, `targetselection: is not a known field; did you mean "targetSelection"?`},
		{"null", `"deploymentPolicies": {"failureHandlingPolicy": "ROLLBACK"}`, `"deploymentPolicies": null`, "deploymentPolicies: is null"},
		{"newer format", `"formatVersion": 1`, `"formatVersion": 2`, "formatVersion: is 2; this Sward reads format 1 only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			_, err := Decode([]byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestManifestKeyLayout(t *testing.T) {
	if got, err := ParseManifestKey(ManifestKey(commit)); err != nil || got != commit {
		t.Fatalf("ParseManifestKey(ManifestKey) = %q, %v", got, err)
	}
	for _, key := range []string{"releases/" + commit + "/other.json", "releases/abc/release.json", "x/" + commit + "/release.json", "releases/" + commit + "/sub/release.json"} {
		if _, err := ParseManifestKey(key); err == nil {
			t.Errorf("ParseManifestKey(%q) accepted it", key)
		}
	}
	sha256Commit := strings.Repeat("ab", 32)
	if id := JobID(sha256Commit); len(id) > 64 || id != "sward-"+sha256Commit[:40] {
		t.Errorf("JobID of a SHA-256 commit = %q (%d chars), want sward- and its first 40 digits", id, len(id))
	}
}

func TestAbortCriterionExceeded(t *testing.T) {
	c := AbortCriterion{FailureType: FailureFailed, ThresholdPercentage: 20, MinNumberOfExecutedThings: 5}
	for _, tc := range []struct {
		failed, rejected, finished int64
		typ                        FailureType
		want                       bool
	}{
		{1, 0, 4, FailureFailed, false},  // 25% but too few finished
		{1, 0, 5, FailureFailed, true},   // 20% of 5: at the threshold
		{1, 0, 6, FailureFailed, false},  // 16.7%
		{0, 3, 5, FailureFailed, false},  // rejections do not count as FAILED
		{0, 3, 5, FailureRejected, true}, // 60% rejected
		{1, 1, 10, FailureAll, true},     // 20% failed or rejected
		{5, 5, 10, FailureTimedOut, false},
		{0, 0, 0, FailureAll, false},
	} {
		c.FailureType = tc.typ
		if got := c.Exceeded(tc.failed, tc.rejected, tc.finished); got != tc.want {
			t.Errorf("%s ≥20%% of ≥5 with failed %d rejected %d finished %d = %v, want %v", tc.typ, tc.failed, tc.rejected, tc.finished, got, tc.want)
		}
	}
}

const helloRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Hello
ComponentVersion: "1.0.0"
ComponentDependencies:
  com.example.Lib:
    VersionRequirement: ">=2.0.0 <3.0.0"
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "{artifacts:path}/hello"}
    Artifacts:
      - URI: s3://sward-artifacts/artifacts/com.example.Hello/1.0.0/hello
        Digest: LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
`

const libRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Lib
ComponentVersion: "2.1.0"
Manifests:
  - Lifecycle: {Run: "true"}
`

func TestCheckRecipes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hello, lib string
		bucket     string
		want       string
	}{
		{name: "consistent release", hello: helloRecipe, lib: libRecipe, bucket: "sward-artifacts"},
		{name: "artifact in another bucket", hello: helloRecipe, lib: libRecipe, bucket: "other", want: `is in bucket "sward-artifacts"; artifacts must be in the release's bucket "other"`},
		{name: "digest differs", hello: strings.Replace(helloRecipe, "LPJNul", "AAJNul", 1), lib: libRecipe, bucket: "sward-artifacts", want: "has Digest AAJNul"},
		{name: "no digest", hello: strings.Replace(helloRecipe, "        Digest: LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\n", "", 1), lib: libRecipe, bucket: "sward-artifacts", want: "has no SHA-256 Digest"},
		{name: "unlisted artifact", hello: strings.Replace(helloRecipe, "/hello\n        Digest", "/hello2\n        Digest", 1), lib: libRecipe, bucket: "sward-artifacts", want: "does not list artifacts/com.example.Hello/1.0.0/hello2"},
		{name: "local file", hello: strings.Replace(helloRecipe, "s3://sward-artifacts/artifacts/com.example.Hello/1.0.0/hello", "file:hello", 1), lib: libRecipe, bucket: "sward-artifacts", want: "a file on the publishing machine"},
		{name: "wrong recipe uploaded", hello: helloRecipe, lib: strings.Replace(libRecipe, `"2.1.0"`, `"2.2.0"`, 1), bucket: "sward-artifacts", want: "is the recipe of com.example.Lib@2.2.0; upload the recipe of com.example.Lib@2.1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode([]byte(fixture(t)))
			if err != nil {
				t.Fatal(err)
			}
			recipes := map[string]*recipe.Recipe{}
			for name, text := range map[string]string{"com.example.Hello": tc.hello, "com.example.Lib": tc.lib} {
				r, err := recipe.Parse(name+".yaml", []byte(text))
				if err != nil {
					t.Fatal(err)
				}
				recipes[name] = r
			}
			err = m.CheckRecipes(recipes, tc.bucket)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestCheckRecipesNeedsDependenciesInTheRelease(t *testing.T) {
	m, err := Decode([]byte(fixture(t)))
	if err != nil {
		t.Fatal(err)
	}
	lib := m.Components["com.example.Lib"]
	lib.Version = "3.0.0"
	lib.Recipe.Key = RecipeKey(commit, "com.example.Lib", "3.0.0")
	m.Components["com.example.Lib"] = lib
	hello, _ := recipe.Parse("hello.yaml", []byte(helloRecipe))
	libR, _ := recipe.Parse("lib.yaml", []byte(strings.Replace(libRecipe, `"2.1.0"`, `"3.0.0"`, 1)))
	err = m.CheckRecipes(map[string]*recipe.Recipe{"com.example.Hello": hello, "com.example.Lib": libR}, "sward-artifacts")
	if err == nil || !strings.Contains(err.Error(), "depends on com.example.Lib >=2.0.0 <3.0.0, but the release has com.example.Lib@3.0.0") {
		t.Fatalf("err = %v", err)
	}
	delete(m.Components, "com.example.Lib")
	err = m.CheckRecipes(map[string]*recipe.Recipe{"com.example.Hello": hello}, "sward-artifacts")
	if err == nil || !strings.Contains(err.Error(), "which the release does not contain; add it") {
		t.Fatalf("err = %v", err)
	}
}
