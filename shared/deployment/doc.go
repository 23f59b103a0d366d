// Package deployment owns the deployment document: the Greengrass-shaped
// description of the root components a group wants on its devices, how to
// configure and run them, and what to do when a deployment fails. The device
// CLI and the IPC build it (New, ConfigurationUpdateFrom), the deployment engine
// applies it (RootComponents), and the cloud sends it as an IoT Job document;
// all of them read it through Decode, so a document means the same thing
// everywhere. The package also holds the status records (State, Status) the
// engine writes and the CLI and the cloud read.
//
// # The document
//
//	{
//	  "formatVersion": 1,
//	  "deploymentId": "…",              // optional; the engine assigns one
//	  "groupName": "LOCAL",             // LOCAL or a thing group name
//	  "components": {
//	    "com.example.A": {
//	      "componentVersion": "1.2.0",
//	      "configurationUpdate": {"merge": {…}, "reset": ["/json/pointer", ""]},
//	      "runWith": {"posixUser": "user:group",
//	                  "systemResourceLimits": {"cpus": 0.5, "memory": 102400}}
//	    }
//	  },
//	  "componentsToRemove": ["com.example.Old"],   // LOCAL only
//	  "deploymentPolicies": {
//	    "failureHandlingPolicy": "ROLLBACK",
//	    "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
//	    "configurationValidationPolicy": {"timeoutInSeconds": 30}
//	  },
//	  "recipeSource": {"bucket": "…", "prefix": "releases/<commit>/recipes/"}   // thing groups only
//	}
//
// Field names and meanings are those of Greengrass's CreateDeployment API
// (components, configurationUpdate, runWith, deploymentPolicies) and
// greengrass-cli's local deployments (groupName, componentsToRemove).
// Cloud-side settings (deploymentName, iotJobConfiguration, tags) are not
// part of the document; the cloud keeps them.
//
// # Decisions
//
// Versioned: formatVersion is 1; a document without it is format 1, so
// Greengrass-shaped documents written by hand parse. Any other value is
// refused, since a newer format may mean something this code cannot do.
// Encode always writes it.
//
// Strict: unknown fields (names are case-sensitive, as in the AWS API; a
// near miss is suggested), wrong types, a key given twice in one object,
// nesting deeper than 64 levels, invalid UTF-8 and trailing data are errors
// (strictjson.Parse reads the JSON; this package walks the tree, because
// the document has two places for its policies and greengrass-cli spellings).
// Every problem is reported, joined, each a *FieldError (strictjson's) naming
// the path, such as
// components["com.example.A"].configurationUpdate.reset[1], and the fix.
// null is a wrong type everywhere: leave an optional field out instead.
//
// Size: a document is at most MaxDocumentSize (64 KB). A cloud document
// must also fit the 32 KB IoT Jobs limit; the cloud checks that.
//
// Groups: groupName defaults to LOCAL. A LOCAL document is a change to the
// LOCAL group's previous root set, as greengrass-cli's local deployments
// are: its components are added or updated, componentsToRemove are dropped,
// and a component without componentVersion keeps the version the device
// runs (a configuration-only change; a component another group deployed
// stays that group's root). Any other group's document replaces
// the group's previous one whole: every component needs a version, a
// component is removed by leaving it out, and componentsToRemove is refused.
// RootComponents computes the group's new root set either way.
//
// Policies: deploymentPolicies is the canonical place, as in
// CreateDeployment. The three policies are also accepted at the top level,
// where Greengrass's own IoT job document puts them; giving one in both
// places is an error. Missing policies take Greengrass's defaults
// (DefaultPolicies): ROLLBACK, NOTIFY_COMPONENTS with 60 s, validation
// within 30 s. Enum values are case-sensitive. Timeouts are whole seconds,
// 0 to a day.
//
// Values: componentVersion is a strict semantic version and component names
// follow Greengrass (recipe.ParseVersion, recipe.ValidateName). merge is a
// JSON object, or a string holding one as the CreateDeployment API sends it;
// numbers in it become float64 as in recipe configuration. reset entries are
// RFC 6901 pointers of at most 256 characters, "" resetting everything.
// posixUser is user or user:group, non-empty parts without spaces. cpus and
// memory (KB) are positive; leave them out for no limit. windowsUser is
// carried but unused, as Sward runs on Linux. deploymentId, when given, is
// an IoT job id ([a-zA-Z0-9_-]{1,64}); groupName is a thing group name
// ([a-zA-Z0-9:_-]{1,128}).
//
// Canonical form: Encode writes fields in a fixed order, map keys sorted,
// defaults explicit, empty optional fields left out and no extra space, so
// Decode(Encode(d)) equals d and equal documents encode to equal bytes.
//
// Recipes: a LOCAL document travels with its recipes (a folder, a git
// commit, the IPC's recipe directory). A thing group's document comes from
// the cloud as an IoT job document and names where its recipes are instead:
// recipeSource {bucket, prefix}, both required, the recipe of each
// component being the object prefix + "<Name>-<Version>.recipe.yaml"
// (RecipeSource.RecipeKey; shared/release's RecipeKey for a release). The
// release Lambda sets it from its bucket and the release's commit; the
// device (edge/jobs) downloads the recipes with its token exchange
// credentials. It is optional so that a document without it still reads
// (the device then uses the recipes its component store has), and refused
// on a LOCAL document.
//
// # Local deployments
//
// The sward CLI (edge/cli, its deployment flags) and the IPC's
// CreateLocalDeployment (edge/deployment) build LOCAL documents with New,
// then Validate them. Both take a component's configuration update in
// greengrass-cli's spelling, {"MERGE": {…}, "RESET": ["/x"]} with MERGE and
// RESET matched without regard to case: ConfigurationUpdateFrom decodes it,
// and ResourceLimitsFrom decodes the CLI's per-component resource limits.
package deployment
