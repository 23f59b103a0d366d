package stream

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	// jetStreamPrefix starts every JetStream stream this package owns, so
	// List can tell them from the nucleus's other streams (KV buckets, ...).
	jetStreamPrefix = "sward_stream_"

	// SubjectPrefix starts the subject each stream's messages are stored
	// under. Under $SWARD so that no component permission reaches it: only
	// the Manager appends.
	SubjectPrefix = "$SWARD.streamdata."

	// AdminSubjectPrefix starts the admin API subjects, one per operation:
	// $SWARD.stream.CreateMessageStream, ... The CLI uses them with the
	// admin credential; components call through the IPC front end.
	AdminSubjectPrefix = "$SWARD.stream."

	// MetadataDefinition is the JetStream stream metadata key holding the
	// stream's ipc.MessageStreamDefinition as JSON.
	MetadataDefinition = "sward.definition"

	// maxJetStreamName is nats-server's JSMaxNameLen: stream names are
	// folder names in the store, and 255 is the common file name limit.
	maxJetStreamName = 255

	// hashSuffixLen is the number of hex digits of SHA-256 that make a cut
	// name unique: 128 bits, collision-free for any realistic stream count.
	hashSuffixLen = 32
)

// JetStreamName returns the name of the JetStream stream that holds the
// messages of the stream manager stream streamName. See doc.go for the
// encoding.
func JetStreamName(streamName string) string {
	enc := encodeName(streamName)
	if len(jetStreamPrefix)+len(enc) <= maxJetStreamName {
		return jetStreamPrefix + enc
	}
	return jetStreamPrefix + cutWithHash(streamName, enc, maxJetStreamName-len(jetStreamPrefix))
}

// Subject returns the subject the messages of streamName are stored under.
func Subject(streamName string) string {
	return SubjectPrefix + strings.TrimPrefix(JetStreamName(streamName), jetStreamPrefix)
}

// AdminSubject returns the admin API subject of an operation.
func AdminSubject(op string) string { return AdminSubjectPrefix + op }

// encodeName maps a valid stream name (letters, digits, ' ', ',', '.', '-',
// '_') one-to-one onto the characters JetStream names and subject tokens
// allow.
func encodeName(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '_':
			b.WriteString("__")
		case ' ':
			b.WriteString("_s")
		case ',':
			b.WriteString("_c")
		case '.':
			b.WriteString("_d")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cutWithHash shortens enc to max characters, ending in "_h" and a hash of
// the original name so that different names stay different.
func cutWithHash(name, enc string, max int) string {
	sum := sha256.Sum256([]byte(name))
	suffix := "_h" + hex.EncodeToString(sum[:])[:hashSuffixLen]
	keep := enc[:max-len(suffix)]
	// Do not end on a lone escape character: "_" + suffix would read as an
	// escape of 'h'. Dropping it keeps the result a plain prefix + hash.
	if n := len(keep) - len(strings.TrimRight(keep, "_")); n%2 == 1 {
		keep = keep[:len(keep)-1]
	}
	return keep + suffix
}
