package shadow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// This file is the shadow document model: parsing requests, merging them
// into the stored document, delta and metadata, and the response documents.
// It does no I/O; edge/shadow and infra/devcloud store and publish what it computes.

// object is a JSON object as decoded with UseNumber, so numbers keep their
// exact text through a merge.
type object = map[string]any

const (
	// maxDepth is AWS's nesting limit ("maximum is 6"), counted as
	// Greengrass's shadow manager counts it: the state node is level 1,
	// desired and reported level 2, their members' objects level 3, ...
	maxDepth = 6

	// maxClientTokenBytes is AWS's clientToken limit.
	maxClientTokenBytes = 64

	// maxRequestBytes bounds an update request before it is parsed: IoT
	// Core's MQTT message limit (128 KiB). The document limit applies to
	// the merged state, not the request, which may carry nulls, a
	// clientToken and whitespace around a state at the limit.
	maxRequestBytes = 128 << 10
)

// state is the state node of a stored shadow. Empty desired or reported
// sections are omitted, as AWS omits them.
type state struct {
	Desired  object `json:"desired,omitempty"`
	Reported object `json:"reported,omitempty"`
}

// Record is one stored shadow, shaped as the "current" half of an
// /update/documents message so that message quotes it verbatim. A deleted
// shadow stays as a tombstone that keeps its version (see README.md).
type Record struct {
	State    state `json:"state"`
	Metadata state `json:"metadata"`
	Version  int64 `json:"version"`
	Deleted  bool  `json:"deleted,omitempty"`
}

// Exists reports whether r is a shadow (not nil, not a tombstone).
func (r *Record) Exists() bool { return r != nil && !r.Deleted }

// Encode returns the record as stored and the size AWS's limit applies to:
// the compact JSON of the state node (desired and reported; metadata,
// version and delta do not count).
func (r *Record) Encode() (data []byte, stateSize int) {
	st := Marshal(r.State)
	md := Marshal(r.Metadata)
	b := make([]byte, 0, len(st)+len(md)+64)
	b = append(b, `{"state":`...)
	b = append(b, st...)
	b = append(b, `,"metadata":`...)
	b = append(b, md...)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, r.Version, 10)
	if r.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	b = append(b, '}')
	return b, len(st)
}

// DecodeRecord reads a record Encode wrote.
func DecodeRecord(data []byte) (*Record, error) {
	var r Record
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// section is desired or reported in an update request.
type section struct {
	present bool   // the key is in the request
	value   object // nil: the request set it to null (delete the section)
}

// Request is a parsed shadow request. Get and delete requests use only
// clientToken (and delete version).
type Request struct {
	clientToken string
	version     int64
	hasVersion  bool

	// update only
	stateRaw          json.RawMessage // echoed in /update/accepted
	stateNull         bool            // "state": null clears desired and reported
	desired, reported section
}

// ParseRequest parses a get or delete request: an empty payload, or an
// object with an optional clientToken (and, for delete, version).
func ParseRequest(payload []byte) (*Request, *Error) {
	req := &Request{}
	if len(bytes.TrimSpace(payload)) == 0 {
		return req, nil
	}
	_, err := parseTop(payload, req)
	return req, err
}

// parseTop checks encoding and JSON, and reads clientToken and version into
// req (so a rejection can echo the token). It returns the top-level members.
func parseTop(payload []byte, req *Request) (map[string]json.RawMessage, *Error) {
	if !utf8.Valid(payload) {
		return nil, &Error{Code: ErrUnsupportedEncoding.Code, Message: ErrUnsupportedEncoding.Message}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil || top == nil {
		return nil, Bad(MsgInvalidJSON)
	}
	if raw, ok := top["clientToken"]; ok && !isNull(raw) {
		var tok string
		if json.Unmarshal(raw, &tok) != nil || len(tok) > maxClientTokenBytes {
			return nil, Bad(msgInvalidToken)
		}
		req.clientToken = tok
	}
	if raw, ok := top["version"]; ok && !isNull(raw) {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if err != nil || v < 0 {
			return nil, Bad(msgInvalidVersion)
		}
		req.version, req.hasVersion = v, true
	}
	return top, nil
}

// ParseUpdate parses and validates an update request.
func ParseUpdate(payload []byte) (*Request, *Error) {
	req := &Request{}
	if len(payload) > maxRequestBytes {
		return req, TooLarge()
	}
	top, e := parseTop(payload, req)
	if e != nil {
		return req, e
	}
	raw, ok := top["state"]
	if !ok {
		return req, Bad(msgMissingState)
	}
	req.stateRaw = compact(raw)
	if isNull(raw) {
		req.stateNull = true
		return req, nil
	}
	var st any
	if err := unmarshalNumber(raw, &st); err != nil {
		return req, Bad(MsgInvalidJSON)
	}
	stObj, ok := st.(object)
	if !ok {
		return req, Bad(msgStateNotObject)
	}
	if depth(stObj) > maxDepth {
		return req, Bad(msgTooDeep)
	}
	if e := checkNumbers(stObj, "state"); e != nil {
		return req, e
	}
	for k, v := range stObj {
		var sec *section
		var msg string
		switch k {
		case "desired":
			sec, msg = &req.desired, msgDesiredNotObject
		case "reported":
			sec, msg = &req.reported, msgReportedNotObject
		default:
			return req, BadRequest("%s: '%s' (only desired and reported may be updated)", msgInvalidNode, k)
		}
		sec.present = true
		if v == nil {
			continue
		}
		o, ok := v.(object)
		if !ok {
			return req, Bad(msg)
		}
		sec.value = o
	}
	return req, nil
}

// checkNumbers refuses numbers outside float64's range (1e400): JSON
// allows them, but no JSON decoder of a float64 (Go's, JavaScript's)
// can read them back, so one such value would make the shadow unreadable
// to its consumers. The error names the number's path.
func checkNumbers(v any, path string) *Error {
	switch t := v.(type) {
	case object:
		for k, c := range t {
			if e := checkNumbers(c, path+"."+k); e != nil {
				return e
			}
		}
	case []any:
		for i, c := range t {
			if e := checkNumbers(c, fmt.Sprintf("%s[%d]", path, i)); e != nil {
				return e
			}
		}
	case json.Number:
		if _, err := t.Float64(); err != nil {
			return BadRequest("%s: the number %s at %s is out of range: use a value within ±1.7976931348623157e308", msgInvalidNode, t, path)
		}
	}
	return nil
}

// depth counts nested objects and arrays; a scalar is 0.
func depth(v any) int {
	d := 0
	switch t := v.(type) {
	case object:
		for _, c := range t {
			d = max(d, depth(c))
		}
	case []any:
		for _, c := range t {
			d = max(d, depth(c))
		}
	default:
		return 0
	}
	return d + 1
}

// Apply merges req into cur (nil or a tombstone when the shadow does not
// exist) and returns the next record. cur is not modified.
func Apply(cur *Record, req *Request, ts int64) (*Record, *Error) {
	if req.hasVersion && (!cur.Exists() || req.version != cur.Version) {
		return nil, Conflict()
	}
	next := &Record{}
	if cur != nil {
		next.Version = cur.Version
	}
	if cur.Exists() {
		next.State.Desired = cloneObject(cur.State.Desired)
		next.State.Reported = cloneObject(cur.State.Reported)
		next.Metadata.Desired = cloneObject(cur.Metadata.Desired)
		next.Metadata.Reported = cloneObject(cur.Metadata.Reported)
	}
	next.Version++
	if req.stateNull {
		next.State, next.Metadata = state{}, state{}
		return next, nil
	}
	mergeSection(&next.State.Desired, &next.Metadata.Desired, req.desired, ts)
	mergeSection(&next.State.Reported, &next.Metadata.Reported, req.reported, ts)
	return next, nil
}

func mergeSection(val, meta *object, sec section, ts int64) {
	switch {
	case !sec.present:
		return
	case sec.value == nil:
		*val, *meta = nil, nil
		return
	}
	if *val == nil {
		*val, *meta = object{}, object{}
	}
	if *meta == nil {
		*meta = object{}
	}
	merge(*val, *meta, sec.value, ts)
	if len(*val) == 0 {
		*val, *meta = nil, nil
	}
}

// merge applies patch to dst as AWS does: null deletes a key, an object
// merges into an object, anything else (scalars, arrays, an object over a
// non-object) replaces. meta mirrors dst with {"timestamp": ts} per leaf.
func merge(dst, meta, patch object, ts int64) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			delete(meta, k)
			continue
		}
		pv, isObj := v.(object)
		if !isObj {
			dst[k] = v
			meta[k] = metadataOf(v, ts)
			continue
		}
		dv, dIsObj := dst[k].(object)
		mv, mIsObj := meta[k].(object)
		switch {
		case !dIsObj: // an object replaces a scalar or array: fresh metadata
			dv, mv = object{}, object{}
			dst[k] = dv
		case !mIsObj || isLeafMeta(mv):
			mv = object{}
		}
		meta[k] = mv
		merge(dv, mv, pv, ts)
	}
}

// isLeafMeta reports whether m is a leaf's {"timestamp": n} read back
// from the bucket. The metadata of an object has objects, arrays or
// leafMeta as values, never a number, so the two cannot be confused.
func isLeafMeta(m object) bool {
	if len(m) != 1 {
		return false
	}
	_, ok := m["timestamp"].(json.Number)
	return ok
}

// metadataOf is the metadata of a value written at ts: {"timestamp": ts}
// for a scalar or null, the same shape for objects, one entry per element
// for arrays.
func metadataOf(v any, ts int64) any {
	switch t := v.(type) {
	case object:
		m := make(object, len(t))
		for k, c := range t {
			m[k] = metadataOf(c, ts)
		}
		return m
	case []any:
		m := make([]any, len(t))
		for i, c := range t {
			m[i] = metadataOf(c, ts)
		}
		return m
	default:
		return leafMeta{ts}
	}
}

// leafMeta is a leaf's metadata as this process builds it: a struct
// rather than a map, as there is one per leaf on every update. Records
// read back from the bucket carry the same as {"timestamp": n} maps.
type leafMeta struct {
	Timestamp int64 `json:"timestamp"`
}

// delta is what desired wants that reported does not have: desired keys
// missing from reported or with another value; objects compare key by key,
// arrays as whole values. nil when there is no difference.
func delta(desired, reported object) object {
	var out object
	for k, dv := range desired {
		var d any
		rv, ok := reported[k]
		dObj, dIsObj := dv.(object)
		rObj, rIsObj := rv.(object)
		switch {
		case dIsObj && len(dObj) == 0:
			continue // an empty object asks for nothing
		case !ok:
			d = dv
		case dIsObj && rIsObj:
			if sub := delta(dObj, rObj); sub != nil {
				d = sub
			}
		case !equal(dv, rv):
			d = dv
		}
		if d != nil {
			if out == nil {
				out = object{}
			}
			out[k] = d
		}
	}
	return out
}

// deltaMetadata picks from desired's metadata the entries of the delta.
func deltaMetadata(delta, meta object) object {
	out := make(object, len(delta))
	for k, v := range delta {
		sub, isObj := v.(object)
		m, metaIsObj := meta[k].(object)
		if isObj && metaIsObj && !isLeafMeta(m) {
			out[k] = deltaMetadata(sub, m)
			continue
		}
		out[k] = meta[k]
	}
	return out
}

// equal compares JSON values; numbers by value, so 1 and 1.0 are equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, ex := x.Float64()
		fy, ey := y.Float64()
		return ex == nil && ey == nil && fx == fy
	case object:
		y, ok := b.(object)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b // string, bool, nil
	}
}

func cloneObject(o object) object {
	if o == nil {
		return nil
	}
	c := make(object, len(o))
	for k, v := range o {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case object:
		return cloneObject(t)
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = cloneValue(e)
		}
		return c
	default:
		return v
	}
}

// Response documents, with their fields in AWS's order.

type deltaMessage struct {
	State       object `json:"state"`
	Metadata    object `json:"metadata"`
	Version     int64  `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

type getState struct {
	Desired  object `json:"desired,omitempty"`
	Reported object `json:"reported,omitempty"`
	Delta    object `json:"delta,omitempty"`
}

type getAccepted struct {
	State       getState `json:"state"`
	Metadata    state    `json:"metadata"`
	Version     int64    `json:"version"`
	Timestamp   int64    `json:"timestamp"`
	ClientToken string   `json:"clientToken,omitempty"`
}

type deleteAccepted struct {
	Version     int64  `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// errorDocument is AWS's /rejected document.
type errorDocument struct {
	Code        int    `json:"code"`
	Message     string `json:"message"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// requestMetadata is the metadata of an update request's state, for
// /update/accepted: a timestamp for every leaf it wrote, nulls included.
func requestMetadata(req *Request, ts int64) object {
	m := object{}
	for _, s := range []struct {
		name string
		sec  section
	}{{"desired", req.desired}, {"reported", req.reported}} {
		switch {
		case !s.sec.present:
		case s.sec.value == nil:
			m[s.name] = leafMeta{ts}
		default:
			m[s.name] = metadataOf(s.sec.value, ts)
		}
	}
	return m
}

// UpdateAcceptedDocument is the /update/accepted document. It and DocumentsDocument
// are assembled from bytes already encoded (the request's state, stored
// records), which encoding/json would validate and compact all over again.
func UpdateAcceptedDocument(req *Request, ts, version int64) []byte {
	md := Marshal(requestMetadata(req, ts))
	b := make([]byte, 0, len(req.stateRaw)+len(md)+96)
	b = append(b, `{"state":`...)
	b = append(b, req.stateRaw...)
	b = append(b, `,"metadata":`...)
	b = append(b, md...)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, version, 10)
	return appendTail(b, ts, req.clientToken)
}

// DocumentsDocument is the /update/documents message; previous is nil when the
// update created the shadow.
func DocumentsDocument(previous, current []byte, ts int64, token string) []byte {
	b := make([]byte, 0, len(previous)+len(current)+96)
	b = append(b, '{')
	if previous != nil {
		b = append(b, `"previous":`...)
		b = append(b, previous...)
		b = append(b, ',')
	}
	b = append(b, `"current":`...)
	b = append(b, current...)
	return appendTail(b, ts, token)
}

// appendTail closes a response document with its timestamp and token.
func appendTail(b []byte, ts int64, token string) []byte {
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	if token != "" {
		b = append(b, `,"clientToken":`...)
		b = append(b, Marshal(token)...)
	}
	return append(b, '}')
}

// GetAcceptedDocument is the /get/accepted document of r.
func GetAcceptedDocument(r *Record, token string, ts int64) []byte {
	return Marshal(getAccepted{
		State: getState{
			Desired:  r.State.Desired,
			Reported: r.State.Reported,
			Delta:    delta(r.State.Desired, r.State.Reported),
		},
		Metadata:    r.Metadata,
		Version:     r.Version,
		Timestamp:   ts,
		ClientToken: token,
	})
}

// ErrorDocument is AWS's /rejected document for e.
func ErrorDocument(e *Error, token string, ts int64) []byte {
	return Marshal(errorDocument{Code: e.Code, Message: e.Message, Timestamp: ts, ClientToken: token})
}

// Marshal encodes without HTML escaping (AWS returns "<" as is) and without
// the encoder's trailing newline.
func Marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only values this package built are encoded, all JSON-safe.
		panic("shadow: encode response: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func unmarshalNumber(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(v)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// IsTombstone reports whether stored bytes are a deleted shadow's record
// without decoding it: Encode writes "deleted" last, after the version, so
// no document content can end the record this way.
func IsTombstone(data []byte) bool { return bytes.HasSuffix(data, []byte(`,"deleted":true}`)) }

// Equal compares two JSON values as decoded with UseNumber, as the delta
// does: numbers by value (1 equals 1.0), objects key by key, arrays
// element by element.
func Equal(a, b any) bool { return equal(a, b) }
