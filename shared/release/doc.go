// Package release owns the release manifest: what `sward publish` writes to
// s3://<artifacts bucket>/releases/<commit>/release.json after uploading a
// commit's recipes and artifacts, and what the release Lambda reads to turn
// the commit into an IoT Job for a thing group. It also owns the layout of
// a release in the bucket and the job id of a release.
//
// # The manifest
//
//	{
//	  "formatVersion": 1,
//	  "commitId": "3f2a…",                      // 40 (SHA-1) or 64 (SHA-256) lowercase hex
//	  "thingGroup": "sward-devices",
//	  "components": {
//	    "com.example.A": {
//	      "componentVersion": "1.2.0",
//	      "configurationUpdate": {"merge": {…}, "reset": ["/x"]},     // optional, as in shared/deployment
//	      "runWith": {"posixUser": "app"},                             // optional, as in shared/deployment
//	      "recipe": {"key": "releases/3f2a…/recipes/com.example.A-1.2.0.recipe.yaml", "sha256": "<base64>"},
//	      "artifacts": [{"key": "artifacts/com.example.A/1.2.0/app", "sha256": "<base64>"}]
//	    }
//	  },
//	  "deploymentPolicies": {…},                // optional, as in shared/deployment
//	  "targetSelection": "CONTINUOUS",          // or SNAPSHOT; CONTINUOUS is the default, as Greengrass
//	  "rollout": {"maximumPerMinute": 50,
//	              "exponentialRate": {"baseRatePerMinute": 5, "incrementFactor": 2,
//	                                  "rateIncreaseCriteria": {"numberOfSucceededThings": 5}}},
//	  "abort": {"criteria": [{"failureType": "FAILED", "thresholdPercentage": 20,
//	                          "minNumberOfExecutedThings": 5}]},
//	  "inProgressTimeoutInMinutes": 60
//	}
//
// components lists every component of the release; each becomes a root
// component of the deployment document (Manifest.Deployment), whose
// components, configurationUpdate, runWith and deploymentPolicies fields
// have the same names and rules, so a problem has the same path in both.
// Digests are base64 SHA-256, the form recipes (Artifacts[].Digest) and S3
// (x-amz-checksum-sha256) use. rollout, abort and inProgressTimeoutInMinutes
// are IoT Jobs' jobExecutionsRolloutConfig, abortConfig (the action is
// always CANCEL) and timeoutConfig, with AWS's ranges; the deployment-events
// Lambda also applies the abort criteria itself (see lambdas/README.md).
//
// # Layout in the artifacts bucket
//
//	releases/<commit>/release.json                          ManifestKey
//	releases/<commit>/recipes/<Name>-<Version>.recipe.yaml  RecipeKey (the recipe's key must be this)
//	releases/latest/<thing group>                           LastReleaseKey: {"commitId": …} of the group's last release
//	artifacts/<Name>/<Version>/<file>                       ArtifactKey, where `sward publish` uploads artifacts
//	<any key>                                               artifacts, named by the recipes' s3:// URIs
//
// The recipe key is fixed so that a device that knows the commit finds a
// component's recipe without another lookup. Artifacts live where the
// recipes point, which must be the release's own bucket (the devices' role
// can read nothing else).
//
// # Decisions
//
// A commit is released once: the IoT job id is JobID(commit), "sward-" and
// the commit's first 40 hex digits (job ids are at most 64 characters), so
// a repeated S3 event or a re-uploaded manifest finds the job already there
// and creates nothing. Release again by committing again.
//
// Decoding is strict (shared/strictjson): formatVersion 1 is required,
// unknown fields, null and duplicate keys are errors naming the path, and a
// manifest is at most MaxManifestSize bytes. CheckRecipes holds the rules
// that need the recipes: each recipe is the component version the manifest
// names, every s3:// artifact it uses is listed with the same digest and
// lives in the release's bucket, every listed artifact is used, file: URIs
// are gone (publish replaces them), and every dependency is satisfied by a
// component of the release.
package release
