package deployment

import "github.com/sward-iot/sward/shared/strictjson"

// ErrInvalid is wrapped by every error about the content of a deployment
// document or of a CLI argument (syntax, an unknown field, a wrong type, a
// value out of range). Callers that only need to tell "bad input" from other
// failures branch on it. It is strictjson's, as for every document of shared/.
var ErrInvalid = strictjson.ErrInvalid

// ErrTooLarge is returned by Decode and Encode for a document over
// MaxDocumentSize bytes.
var ErrTooLarge = strictjson.ErrTooLarge

// FieldError is one problem in one document. Path is the field path in the
// document (for example components["com.example.A"].configurationUpdate.reset[1]),
// empty for problems with the whole input.
type FieldError = strictjson.FieldError
