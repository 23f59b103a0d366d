package recipe

import (
	"errors"

	"github.com/sward-iot/sward/shared/strictjson"
)

// ErrInvalid is wrapped by every error that Parse reports about the content of
// a recipe (syntax, a missing or malformed field). Callers that only need to
// tell "bad recipe" from "could not read the file" branch on it.
var ErrInvalid = errors.New("invalid recipe")

// ErrTooLarge is returned by Parse, ParseFile and LoadDir for a recipe over
// MaxRecipeSize bytes. Greengrass refuses such recipes, so a device must too.
var ErrTooLarge = errors.New("recipe too large")

// ErrNoMatchingManifest is returned by Select when no manifest accepts the
// platform: Greengrass fails the deployment in that case.
var ErrNoMatchingManifest = errors.New("no manifest matches the platform")

// ErrUnresolved is wrapped by Lifecycle.Resolve's errors: a RequiresPrivilege
// or Timeout written as a recipe variable did not resolve to a value of its
// type. Greengrass reads such a value after interpolation; a deployment
// whose configuration leaves it wrong fails.
var ErrUnresolved = errors.New("recipe variable does not resolve")

// FieldError is one problem in one recipe. Path is the field path in the
// recipe's canonical spelling (for example Manifests[1].Lifecycle.Run.Timeout),
// empty for problems with the whole file; File is empty for problems found
// after parsing (Lifecycle.Resolve). Err is ErrInvalid, ErrTooLarge,
// ErrNoMatchingManifest or ErrUnresolved. It is strictjson's, so a recipe's
// problems read like those of every other document of shared/.
type FieldError = strictjson.FieldError
