package publish

import (
	"strings"
	"testing"

	"github.com/sward-iot/sward/shared/recipe"
)

func TestRewriteRecipeSetsURIDigestAndAlgorithmOfTheArtifactsItNames(t *testing.T) {
	rewrites := map[string]rewrite{
		"s3://sward-artifacts/C/1.0.0/app": {uri: "s3://bucket/artifacts/C/1.0.0/app", digest: sum("app")},
		"file:run.sh":                      {uri: "s3://bucket/artifacts/C/1.0.0/run.sh", digest: sum("run.sh")},
	}
	for _, tc := range []struct {
		name, src string
	}{
		{"yaml", `RecipeFormatVersion: "2020-01-25"
ComponentName: C
ComponentVersion: "1.0.0"
Manifests:
  - Platform: {os: linux}
    Artifacts:
      - URI: s3://sward-artifacts/C/1.0.0/app
        Digest: old
        Algorithm: SHA-256
      - URI: docker:alpine:3
      - URI: file:run.sh
`},
		{"field names in any case", `RecipeFormatVersion: "2020-01-25"
ComponentName: C
ComponentVersion: "1.0.0"
manifests:
  - platform: {os: linux}
    artifacts:
      - uri: s3://sward-artifacts/C/1.0.0/app
        digest: old
      - uri: docker:alpine:3
      - Uri: file:run.sh
`},
		{"json", `{"RecipeFormatVersion": "2020-01-25", "ComponentName": "C", "ComponentVersion": "1.0.0",
 "Manifests": [{"Platform": {"os": "linux"}, "Artifacts": [
   {"URI": "s3://sward-artifacts/C/1.0.0/app"}, {"URI": "docker:alpine:3"}, {"URI": "file:run.sh"}]}]}`},
		{"anchors and aliases", `RecipeFormatVersion: "2020-01-25"
ComponentName: C
ComponentVersion: "1.0.0"
Manifests:
  - Platform: {os: linux, architecture: amd64}
    Artifacts: &artifacts
      - URI: s3://sward-artifacts/C/1.0.0/app
      - URI: docker:alpine:3
      - URI: file:run.sh
  - Platform: {os: linux, architecture: aarch64}
    Artifacts: *artifacts
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := rewriteRecipe([]byte(tc.src), rewrites)
			if err != nil {
				t.Fatal(err)
			}
			r, err := recipe.Parse("C.yaml", out)
			if err != nil {
				t.Fatalf("the rewritten recipe does not parse: %v\n%s", err, out)
			}
			for _, m := range r.Manifests {
				a := m.Artifacts
				if len(a) != 3 ||
					a[0].URI != "s3://bucket/artifacts/C/1.0.0/app" || a[0].Digest != sum("app") || a[0].Algorithm != recipe.AlgorithmSHA256 ||
					a[1].URI != "docker:alpine:3" || a[1].Digest != "" ||
					a[2].URI != "s3://bucket/artifacts/C/1.0.0/run.sh" || a[2].Digest != sum("run.sh") {
					t.Errorf("artifacts %+v in\n%s", a, out)
				}
			}
			if strings.Contains(string(out), "old") {
				t.Errorf("the old digest is still there:\n%s", out)
			}
		})
	}
}
