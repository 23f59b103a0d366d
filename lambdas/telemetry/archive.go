package telemetry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/sward-iot/sward/shared/telemetry"
)

// archiveObject is one S3 object of the archive.
type archiveObject struct {
	Key  string
	Body []byte
}

// payloadDigest identifies a device message without a messageId: 64 bits
// of its payload's SHA-256, so distinct messages of one stream never collide
// in practice.
func payloadDigest(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:8])
}

// messageDigest identifies a device message: from its thing, stream and
// messageId when it has one, so that a re-send (which may differ in its
// bytes, re-serialized after a restart) is the same message; from the
// payload otherwise.
func messageDigest(ev *telemetry.RuleEvent, messageID string) string {
	if messageID == "" {
		return payloadDigest(ev.Data)
	}
	// Thing, stream and id cannot contain '/', so the join is unambiguous.
	return "m" + payloadDigest([]byte(ev.Thing+"/"+ev.Stream+"/"+messageID))
}

// archive lays out the good records of one event as objects, one per UTC
// hour of the readings, in the order of the hours. digest is the message's
// (messageDigest): with the readings' hours it names the objects, and
// nothing else does (not receivedAt, which differs for a re-send), so the
// same message always gets the same keys.
func archive(ev *telemetry.RuleEvent, digest, messageID string, records []telemetry.Record) []archiveObject {
	var objects []archiveObject
	index := map[int64]int{} // hour (epoch hours) → objects index
	for _, r := range records {
		hour := r.Timestamp / int64(time.Hour/time.Millisecond)
		i, ok := index[hour]
		if !ok {
			t := time.UnixMilli(r.Timestamp).UTC()
			key := fmt.Sprintf("thing=%s/date=%s/hour=%02d/%s-%s.json", ev.Thing, t.Format(time.DateOnly), t.Hour(), ev.Stream, digest)
			i = len(objects)
			index[hour] = i
			objects = append(objects, archiveObject{Key: key})
		}
		objects[i].Body = appendLine(objects[i].Body, ev, messageID, r)
	}
	return objects
}

// appendLine writes one archive line. It is written by hand: the field
// names are fixed and known safe, and encoding/json would cost a third of
// the handler's per-record time.
func appendLine(b []byte, ev *telemetry.RuleEvent, messageID string, r telemetry.Record) []byte {
	b = append(b, `{"thing":"`...)
	b = append(b, ev.Thing...) // thing, stream and metric names need no JSON escaping (checked patterns)
	b = append(b, `","stream":"`...)
	b = append(b, ev.Stream...)
	b = append(b, `","metric":"`...)
	b = append(b, r.Metric...)
	b = append(b, `","value":`...)
	b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, r.Timestamp, 10)
	b = append(b, `,"receivedAt":`...)
	b = strconv.AppendInt(b, ev.ReceivedAt, 10)
	if messageID != "" {
		b = append(b, `,"messageId":"`...)
		b = append(b, messageID...) // checked pattern, no escaping needed
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	return b
}
