// Package recipe owns the Greengrass component recipe: parsing and validating
// RecipeFormatVersion 2020-01-25 recipes in YAML or JSON, choosing the
// manifest for a platform (Select), and expanding recipe variables
// (Interpolate). The edge supervisor, the deployment engine, `sward publish`
// and the deployment Lambda all read recipes through it, so a recipe means
// the same thing everywhere.
//
// # Compatibility decisions
//
// Field names are matched without regard to case, as Greengrass does, so
// public recipes that write `lifecycle`, `run`, `setEnv`, `Uri` or
// `requiresPrivilege` parse unchanged. Two spellings of one field in the same
// object are an error. Field paths in errors use the canonical spelling
// (Manifests[1].Lifecycle.Run.Timeout).
//
// Unknown fields are ignored, as Greengrass ignores them, but each is listed
// in Recipe.Warnings so tools can show likely typos. Everything the recipe
// reference defines is checked strictly; every problem is reported (joined),
// each naming the file, the field path and what would make it valid.
//
// Limits are Greengrass's: a recipe is at most 16384 bytes; a component name
// is 1 to 128 characters of letters, digits, '.', '-' and '_' (but not "." or
// "..", which Sward refuses because the name is a folder on the device); a
// DefaultConfiguration nests at most MaxConfigDepth (32) objects deep, the
// limit deployments and IPC UpdateConfiguration share; a version is a
// strict semantic version MAJOR.MINOR.PATCH (optional -prerelease, +build), at
// most 64 characters, each number at most six digits. Dependency ranges are
// npm-style (Masterminds semver). A recipe needs at least one manifest, since
// Greengrass cannot deploy one without. A component may not depend on itself;
// Cycles finds circular dependencies among a set of recipes (a → b → a),
// which Greengrass refuses too.
//
// YAML syntax errors name the line that causes them and quote it, where
// yaml.v3 itself names the line the enclosing block starts on.
//
// Platform matching: the first manifest whose every Platform requirement
// holds wins; a manifest without Platform matches every device. A requirement
// is an exact value (starting with a letter or digit), `*` or `all` (also
// `any`; all three match a missing key too), `//` (any present value), or a
// /regex/ matched against the whole value. Regexes use Go's RE2 syntax, not
// Java's: lookaround and backreferences are refused at parse time. The
// device's platform is HostPlatform (detected as the Greengrass nucleus
// detects it) with Override applied for attributes the device declares, as
// Greengrass's platformOverride adds to and replaces detected attributes.
//
// Global lifecycle: a manifest with a non-empty Lifecycle uses it; otherwise
// the recipe-level Lifecycle applies, filtered by the manifest's Selections
// (`all` when it has none). A mapping that has any key used as a selection by
// some manifest (or `all`) is a choice: it keeps the value under the first of
// the manifest's selections it has and vanishes when it has none. Sections
// without selection keys apply to every manifest. Selection keys can sit at
// any level (above the steps, or under Script) and are case-sensitive.
//
// Steps are a script string or an object {Script, RequiresPrivilege (bool or
// "true"/"false"), Skipif ("onpath X" or "exists F"), Timeout (seconds, number
// or numeric string), Setenv}. Startup and Run together are an error.
// RequiresPrivilege and Timeout may also be text holding recipe variables,
// such as "{configuration:/requiresPrivilege}" (the public EMQX broker recipe
// writes this), because Greengrass interpolates the whole lifecycle before
// reading them. Parse keeps such text in RequiresPrivilegeVar and TimeoutVar;
// Lifecycle.Resolve reads them for a given configuration and reports a
// value of the wrong type as an ErrUnresolved error naming the step, field
// and configuration key. Which configuration to resolve them from is the
// caller's decision (the deployment engine uses only what deployments set).
//
// Artifacts use s3://bucket/key, greengrass:, docker:, and — Sward's addition
// for local development — file: URIs (Artifact.LocalPath; relative paths are
// relative to the recipe's folder) that the deployment engine copies from
// disk, only from the recipe's folder or the deployment's artifact folder;
// publishing replaces them with s3:. s3://name.zip without a key is
// accepted, as public recipes use it as a local-deployment placeholder.
// greengrass: and docker: URIs parse with a warning: the nucleus does not
// install them yet, and a deployment of them fails. Other schemes (http,
// https) are errors. Algorithm defaults to SHA-256 when Digest is set
// (SHA-384 and SHA-512 are accepted too; the store checks SHA-256 only);
// file names are unique within a manifest (docker images excluded, they
// are not files).
//
// The file extension chooses the parser, as in Greengrass: .json is JSON,
// .yaml and .yml are YAML, so a .yaml recipe in YAML flow style (starting
// with '{', with trailing commas) is YAML. Only a recipe without a known
// extension (inline text) is sniffed: a leading '{' means JSON, anything
// else YAML. YAML is read from its first document only; anchors, aliases
// and merge keys work, bounded so aliases cannot blow up.
package recipe
