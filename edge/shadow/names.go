package shadow

import (
	shadowdoc "github.com/sward-iot/sward/shared/shadow"

	"strings"
)

// Subjects. nats-server's MQTT listener maps topic a/b to subject a.b, so
// these are IoT Core's shadow topics as NATS sees them:
// $aws/things/<thing>/shadow[/name/<shadow>]/<op>[/<result>].
const (
	// SubjectPrefix starts every shadow subject.
	SubjectPrefix = "$aws.things"

	// SubjectList is Sward's request/reply subject for listing a thing's
	// named shadows: IoT Core has no MQTT topic for it (only the REST
	// ListNamedShadowsForThing), so it lives in Sward's own namespace. The
	// request is {"thingName","nextToken","pageSize"}; the reply
	// {"results","nextToken","timestamp"} or an error document.
	SubjectList = "sward.shadow.list"

	// QueueGroup spreads requests over every Service subscribed to the same
	// broker, so two nucleus-side instances never both answer one request.
	QueueGroup = "sward.shadow"
)

// Operations and results, the last tokens of a shadow subject.
const (
	OpGet    = "get"
	OpUpdate = "update"
	OpDelete = "delete"

	ResultAccepted  = "accepted"
	ResultRejected  = "rejected"
	ResultDelta     = "delta"     // only after update
	ResultDocuments = "documents" // only after update
)

// Name limits, as AWS IoT enforces them.
const (
	maxThingNameLen  = 128
	maxShadowNameLen = 64
)

// Subject returns the NATS subject of a shadow operation: op is OpGet,
// OpUpdate or OpDelete; result is "" for the request subject, or one of the
// Result constants. name "" is the classic shadow.
func Subject(thing, name, op, result string) string {
	var b strings.Builder
	b.Grow(len(SubjectPrefix) + len(thing) + len(name) + 40)
	b.WriteString(SubjectPrefix)
	b.WriteByte('.')
	b.WriteString(thing)
	b.WriteString(".shadow.")
	if name != "" {
		b.WriteString("name.")
		b.WriteString(name)
		b.WriteByte('.')
	}
	b.WriteString(op)
	if result != "" {
		b.WriteByte('.')
		b.WriteString(result)
	}
	return b.String()
}

// Topic is Subject as an MQTT topic.
func Topic(thing, name, op, result string) string {
	return strings.ReplaceAll(Subject(thing, name, op, result), ".", "/")
}

// requestSubjects are the subjects the service answers: exact request
// subjects rather than $aws.things.*.shadow.>, so the service never
// receives its own accepted/rejected/delta/documents publications (three
// per update) only to drop them.
var requestSubjects = []string{
	SubjectPrefix + ".*.shadow.get",
	SubjectPrefix + ".*.shadow.update",
	SubjectPrefix + ".*.shadow.delete",
	SubjectPrefix + ".*.shadow.name.*.get",
	SubjectPrefix + ".*.shadow.name.*.update",
	SubjectPrefix + ".*.shadow.name.*.delete",
}

// parseSubject splits a request subject into thing, shadow name and
// operation. ok is false for subjects that are not shadow requests.
func parseSubject(subject string) (thing, name, op string, ok bool) {
	t := strings.Split(subject, ".")
	switch {
	case len(t) == 5 && t[0] == "$aws" && t[1] == "things" && t[3] == "shadow":
		return t[2], "", t[4], true
	case len(t) == 7 && t[0] == "$aws" && t[1] == "things" && t[3] == "shadow" && t[4] == "name":
		return t[2], t[5], t[6], true
	}
	return "", "", "", false
}

// checkNames validates a thing name (1-128 of a-z A-Z 0-9 : _ -) and a
// shadow name (empty for classic, else 1-64 of the same characters), as
// AWS IoT does.
func checkNames(thing, name string) *Error {
	if !validName(thing, maxThingNameLen) {
		return shadowdoc.BadRequest("Invalid thing name %q: use 1-%d characters from a-z A-Z 0-9 : _ -", thing, maxThingNameLen)
	}
	if name != "" && !validName(name, maxShadowNameLen) {
		return shadowdoc.BadRequest("Invalid shadow name %q: use 1-%d characters from a-z A-Z 0-9 : _ - (or none for the classic shadow)", name, maxShadowNameLen)
	}
	return nil
}

// ValidShadowName reports whether name is a shadow name AWS IoT accepts
// (1-64 of a-z A-Z 0-9 : _ -).
func ValidShadowName(name string) bool { return validName(name, maxShadowNameLen) }

func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ':' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// KV keys: "<thing>.c" for the classic shadow, "<thing>.n.<shadow>" for a
// named one. KV keys allow [-/_=.a-zA-Z0-9]; names allow ':' too, which
// becomes '=' (a character names never contain, so the mapping reverses).
func key(thing, name string) string {
	if name == "" {
		return escape(thing) + ".c"
	}
	return escape(thing) + ".n." + escape(name)
}

// namedPrefix is the key prefix of thing's named shadows.
func namedPrefix(thing string) string { return escape(thing) + ".n." }

func escape(s string) string   { return strings.ReplaceAll(s, ":", "=") }
func unescape(s string) string { return strings.ReplaceAll(s, "=", ":") }
