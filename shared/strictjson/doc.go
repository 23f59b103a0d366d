// Package strictjson decodes Sward's versioned JSON documents strictly: the
// telemetry batch, the deployment status message, the release manifest and
// the IoT rule events that carry them. It exists so that every document of
// shared/ refuses bad input the same way and names the problem the same way:
// the deployment document walks the tree that Parse returns, and recipes,
// read from YAML or JSON by their own parser, report their problems as
// FieldError (with File set) and quote values with Truncate.
//
// Decode parses the input into a tree first, then assigns the tree to a Go
// value by reflection, following `json` struct tags. It refuses:
//
//   - input over Options.MaxSize bytes (ErrTooLarge), before parsing it;
//   - invalid JSON, trailing data after the value, nesting deeper than
//     MaxDepth levels;
//   - a key given twice in one object (parsers disagree on which wins, so a
//     document could mean two things);
//   - unknown fields (names are case-sensitive; a near miss is suggested);
//   - wrong types, null anywhere (leave an optional field out instead),
//     numbers that do not fit the field (a fraction in a whole number, an
//     out-of-range value, infinities);
//   - missing fields tagged `json:"name,required"` (encoding/json ignores
//     the extra tag option, so the same struct encodes normally);
//   - with Options.FormatVersion set, a missing or different top-level
//     formatVersion, checked before anything else so that a newer document
//     gets one clear error instead of one per field it does not know.
//
// Every problem is reported, joined (at most 50, then a count), each a
// *FieldError naming the field path such as records[3].value and saying
// what would make it valid. A struct field may carry an `example:"…"` tag
// that messages quote ("write a number, such as 21.5").
//
// A Node field keeps a subtree undecoded, so a caller can decode the items
// of a list one by one and keep the good ones when some are bad.
//
// Values are checked for shape here; each document package checks meaning
// (patterns, ranges, cross-field rules) in its own Validate, with the same
// FieldError type so callers handle both alike.
package strictjson
