package stream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/shared/ipc"
)

// Handle decodes body as the JSON request of op (an ipc.Op* stream
// operation), runs it and returns the JSON response. Decoding is strict:
// unknown fields, wrong types, trailing data and malformed JSON are
// InvalidArgumentsErrors naming the problem, and nothing changes. Errors are
// *ipc.Error; the IPC front end calls Handle after its access control.
func (m *Manager) Handle(ctx context.Context, op string, body []byte) ([]byte, error) {
	resp, e := m.handle(ctx, op, body)
	if e != nil {
		return nil, e
	}
	return resp, nil
}

func (m *Manager) handle(ctx context.Context, op string, body []byte) ([]byte, *ipc.Error) {
	switch op {
	case ipc.OpCreateMessageStream:
		var req ipc.CreateMessageStreamRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		return reply(ipc.CreateMessageStreamResponse{}, m.create(ctx, req.Definition))
	case ipc.OpUpdateMessageStream:
		var req ipc.UpdateMessageStreamRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		return reply(ipc.UpdateMessageStreamResponse{}, m.update(ctx, req.Definition))
	case ipc.OpDeleteMessageStream:
		var req ipc.DeleteMessageStreamRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		return reply(ipc.DeleteMessageStreamResponse{}, m.delete(ctx, req.StreamName))
	case ipc.OpDescribeMessageStream:
		var req ipc.DescribeMessageStreamRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		info, e := m.describe(ctx, req.StreamName)
		return reply(info, e)
	case ipc.OpListStreams:
		var req ipc.ListStreamsRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		names, _ := m.List(ctx)
		return reply(ipc.ListStreamsResponse{Streams: names}, nil)
	case ipc.OpAppendMessage:
		var req ipc.AppendMessageRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		seq, e := m.append(ctx, req.StreamName, req.Payload)
		return reply(ipc.AppendMessageResponse{SequenceNumber: seq}, e)
	case ipc.OpReadMessages:
		var req ipc.ReadMessagesRequest
		if e := decode(op, body, &req); e != nil {
			return nil, e
		}
		msgs, e := m.read(ctx, req.StreamName, req.ReadMessagesOptions)
		if msgs == nil {
			msgs = []ipc.Message{}
		}
		return reply(ipc.ReadMessagesResponse{Messages: msgs}, e)
	default:
		return nil, ipc.Errorf(ipc.CodeUnsupportedOperation, "%q is not a stream manager operation: use one of %s", op, strings.Join(ipc.StreamOperations, ", "))
	}
}

func reply(v any, e *ipc.Error) ([]byte, *ipc.Error) {
	if e != nil {
		return nil, e
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeService, "encode response: %v", err)
	}
	return b, nil
}

// decode reads body into v strictly. An empty body is an empty object.
func decode(op string, body []byte, v any) *ipc.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ipc.Errorf(ipc.CodeInvalidArguments, "%s request: %s", op, describeJSONError(err))
	}
	// encoding/json ignores unknown keys, matches field names ignoring case
	// and lets a repeated key win silently; the wire names are exact and a
	// key given twice is ambiguous, so check the keys.
	if msg := checkKeys(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v).Elem(), ""); msg != "" {
		return ipc.Errorf(ipc.CodeInvalidArguments, "%s request: %s", op, msg)
	}
	return nil
}

// checkKeys walks one JSON value (already known to decode into t) and
// reports the first object key that is not exactly a field name of t, or
// that appears twice.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return ""
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return ""
	}
	switch {
	case delim == '{' && t.Kind() == reflect.Struct:
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			kt, _ := dec.Token()
			key, _ := kt.(string)
			field := joinPath(path, key)
			ft, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return fmt.Sprintf("unknown field %q: the field is %q (names are case-sensitive)", field, joinPath(path, name))
					}
				}
				return fmt.Sprintf("unknown field %q", field)
			}
			if seen[key] {
				return fmt.Sprintf("field %q is given twice: give it once", field)
			}
			seen[key] = true
			if msg := checkKeys(dec, ft, field); msg != "" {
				return msg
			}
		}
	case delim == '[' && t.Kind() == reflect.Slice:
		for i := 0; dec.More(); i++ {
			if msg := checkKeys(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); msg != "" {
				return msg
			}
		}
	default:
		// A value the target does not look into: skip it.
		for depth := 1; depth > 0; {
			tok, err := dec.Token()
			if err != nil {
				return ""
			}
			if d, ok := tok.(json.Delim); ok {
				if d == '{' || d == '[' {
					depth++
				} else {
					depth--
				}
			}
		}
		return ""
	}
	dec.Token() // the closing delimiter
	return ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldCache holds jsonFields per struct type: reflection on every append
// request would cost more than decoding it.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields (embedded structs
// inlined, as encoding/json does) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := collectJSONFields(t)
	fieldCache.Store(t, f)
	return f
}

func collectJSONFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range collectJSONFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// describeJSONError turns encoding/json's errors into messages that name
// the field and what it should be.
func describeJSONError(err error) string {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		b64     base64.CorruptInputError
	)
	switch {
	case errors.As(err, &syntax) && strings.Contains(syntax.Error(), "after top-level value"):
		return "data after the JSON object: send exactly one object"
	case errors.As(err, &syntax) && strings.Contains(syntax.Error(), "unexpected end of JSON input"):
		return "the JSON ends early: send a complete JSON object"
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fmt.Sprintf("the request is a JSON %s: send a JSON object", typeErr.Value)
		}
		return fmt.Sprintf("field %s is a JSON %s: it must be %s", field, typeErr.Value, jsonKind(typeErr.Type.Kind().String(), field))
	case errors.As(err, &b64):
		return fmt.Sprintf("payload is not valid base64 (bad byte at %d): encode the payload bytes as standard base64", int64(b64))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "the JSON ends early: send a complete JSON object"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s", f)
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonKind names the JSON type a Go kind is decoded from.
func jsonKind(kind, field string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		if strings.HasSuffix(field, "payload") {
			return "a base64 string"
		}
		return "a string"
	case "slice":
		if strings.HasSuffix(field, "payload") {
			return "a base64 string"
		}
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "of type " + kind
}

// serveAdmin answers $SWARD.stream.<Operation> requests on the connection:
// the body is Handle's, the reply the response or {"error":{...}}. Each
// request runs in its own goroutine, as a ReadMessages may wait.
func (m *Manager) serveAdmin() error {
	sub, err := m.nc.Subscribe(AdminSubjectPrefix+"*", func(msg *nats.Msg) {
		if !ipc.ReplyAllowed(msg.Reply) {
			return // nothing to answer, or a subject that is not an inbox
		}
		op := strings.TrimPrefix(msg.Subject, AdminSubjectPrefix)
		// Add under the lock that Shutdown takes to stop: no Add after
		// its Wait began.
		m.mu.RLock()
		if m.state != running {
			m.mu.RUnlock()
			return
		}
		m.wg.Add(1)
		m.mu.RUnlock()
		go func() {
			defer m.wg.Done()
			resp, e := m.handle(m.ctx, op, msg.Data)
			if e != nil {
				m.log.Info("admin request refused", "op", op, "code", e.Code, "error", e.Message)
				resp = ipc.MarshalError(e)
			}
			if err := msg.Respond(resp); err != nil {
				m.log.Warn("admin reply failed", "op", op, "error", err)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("stream: subscribe %s*: %w", AdminSubjectPrefix, err)
	}
	m.mu.Lock()
	m.subs = append(m.subs, sub)
	m.mu.Unlock()
	return nil
}
