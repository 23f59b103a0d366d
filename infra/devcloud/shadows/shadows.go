// Package shadows is devcloud's Device Shadow service: classic and named
// shadows over MQTT ($aws/things/<thing>/shadow[/name/<shadow>]/(get|update|delete)
// answered on /accepted or /rejected, with /update/delta and
// /update/documents) and over the IoT data plane's HTTP API
// (GetThingShadow, UpdateThingShadow, DeleteThingShadow,
// ListNamedShadowsForThing). The document semantics are shared/shadow's,
// the same as the edge's local shadows. Shadows are files under
// DIR/shadows/<thing>/, so they survive a restart.
//
// Not done: the request rate limits, persistent-session delivery of the
// answers, and the shadow's size limit other than AWS's default (8 KB of
// state).
package shadows

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sward-iot/sward/shared/shadow"
)

// MaxDocumentBytes is AWS's default limit on a shadow's state (8 KB).
const MaxDocumentBytes = 8 << 10

// classicFile names the classic shadow's file; named shadows' files are
// their names, which cannot contain '$'.
const classicFile = "$classic"

var (
	thingName  = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	shadowName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,64}$`)
)

// Service stores shadows and answers requests.
type Service struct {
	dir     string
	publish func(topic string, payload []byte)
	now     func() time.Time
	log     *slog.Logger
	mu      sync.Mutex // one request at a time: a development service
}

// New returns a Service keeping shadows under dir and publishing answers
// with publish.
func New(dir string, publish func(topic string, payload []byte), log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{dir: dir, publish: publish, now: time.Now, log: log.With("service", "shadows")}
}

// Filter is the MQTT filter the service listens on.
const Filter = "$aws/things/+/shadow/#"

// Prefix returns a shadow's topic prefix: $aws/things/<thing>/shadow[/name/<name>].
func Prefix(thing, name string) string {
	p := "$aws/things/" + thing + "/shadow"
	if name != "" {
		p += "/name/" + name
	}
	return p
}

// parseTopic splits a request topic; ok is false for anything else (the
// answers the service itself publishes included).
func parseTopic(topic string) (thing, name, op string, ok bool) {
	p := strings.Split(topic, "/")
	switch {
	case len(p) == 5 && p[0] == "$aws" && p[1] == "things" && p[3] == "shadow":
		thing, op = p[2], p[4]
	case len(p) == 7 && p[0] == "$aws" && p[1] == "things" && p[3] == "shadow" && p[4] == "name":
		thing, name, op = p[2], p[5], p[6]
	default:
		return "", "", "", false
	}
	return thing, name, op, op == "get" || op == "update" || op == "delete"
}

// HandleMQTT answers a message published on a shadow topic.
func (s *Service) HandleMQTT(topic string, payload []byte) {
	thing, name, op, ok := parseTopic(topic)
	if !ok {
		return
	}
	prefix := Prefix(thing, name) + "/" + op
	doc, token, e := s.do(thing, name, op, payload)
	if e != nil {
		s.publish(prefix+"/rejected", shadow.ErrorDocument(e, token, s.now().Unix()))
		return
	}
	if op != "update" { // update publishes its own documents
		s.publish(prefix+"/accepted", doc)
	}
}

// do runs one request and returns the accepted document; an update also
// publishes /update/accepted, /update/delta and /update/documents.
func (s *Service) do(thing, name, op string, payload []byte) ([]byte, string, *shadow.Error) {
	if !thingName.MatchString(thing) {
		return nil, "", shadow.BadRequest("Invalid thing name %q", thing)
	}
	if name != "" && !shadowName.MatchString(name) {
		return nil, "", shadow.BadRequest("Invalid shadow name %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.now().Unix()
	cur, raw, err := s.load(thing, name)
	if err != nil {
		s.log.Error("read shadow", "thing", thing, "shadow", name, "error", err)
		return nil, "", shadow.Internal()
	}
	switch op {
	case "get":
		req, e := shadow.ParseRequest(payload)
		if e != nil {
			return nil, "", e
		}
		if !cur.Exists() {
			return nil, req.ClientToken(), shadow.NotFound(thing, name)
		}
		return shadow.GetAcceptedDocument(cur, req.ClientToken(), ts), req.ClientToken(), nil
	case "delete":
		req, e := shadow.ParseRequest(payload)
		if e != nil {
			return nil, "", e
		}
		if e := shadow.CheckDelete(cur, req, thing, name); e != nil {
			return nil, req.ClientToken(), e
		}
		if err := s.store(thing, name, shadow.Tombstone(cur.Version)); err != nil {
			s.log.Error("write shadow", "thing", thing, "shadow", name, "error", err)
			return nil, req.ClientToken(), shadow.Internal()
		}
		return shadow.DeleteAcceptedDocument(cur.Version, ts, req.ClientToken()), req.ClientToken(), nil
	}
	req, e := shadow.ParseUpdate(payload)
	if e != nil {
		token := ""
		if req != nil {
			token = req.ClientToken()
		}
		return nil, token, e
	}
	next, e := shadow.Apply(cur, req, ts)
	if e != nil {
		return nil, req.ClientToken(), e
	}
	data, size := next.Encode()
	if size > MaxDocumentBytes {
		return nil, req.ClientToken(), shadow.TooLarge()
	}
	if err := s.store(thing, name, next); err != nil {
		s.log.Error("write shadow", "thing", thing, "shadow", name, "error", err)
		return nil, req.ClientToken(), shadow.Internal()
	}
	prefix := Prefix(thing, name) + "/update"
	accepted := shadow.UpdateAcceptedDocument(req, ts, next.Version)
	s.publish(prefix+"/accepted", accepted)
	if d := shadow.DeltaDocument(req, next, ts); d != nil {
		s.publish(prefix+"/delta", d)
	}
	var previous []byte
	if cur.Exists() {
		previous = raw
	}
	s.publish(prefix+"/documents", shadow.DocumentsDocument(previous, data, ts, req.ClientToken()))
	s.log.Info("shadow updated", "thing", thing, "shadow", name, "version", next.Version)
	return accepted, req.ClientToken(), nil
}

func (s *Service) path(thing, name string) string {
	if name == "" {
		name = classicFile
	}
	return filepath.Join(s.dir, thing, name+".json")
}

// load returns the stored record (nil when none) and its bytes.
func (s *Service) load(thing, name string) (*shadow.Record, []byte, error) {
	raw, err := os.ReadFile(s.path(thing, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := shadow.DecodeRecord(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.path(thing, name), err)
	}
	return r, raw, nil
}

func (s *Service) store(thing, name string, r *shadow.Record) error {
	data, _ := r.Encode()
	p := s.path(thing, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// listNamed returns the names of a thing's named shadows that exist.
func (s *Service) listNamed(thing string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, thing))
	if errors.Is(err, os.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || n == classicFile {
			continue
		}
		if r, _, err := s.load(thing, n); err == nil && r.Exists() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// RegisterHTTP adds the data plane's shadow operations to mux, as
// aws-sdk-go-v2's iotdataplane client calls them.
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc("GET /things/{thing}/shadow", func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, "get") })
	mux.HandleFunc("POST /things/{thing}/shadow", func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, "update") })
	mux.HandleFunc("DELETE /things/{thing}/shadow", func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(w, r, "delete") })
	mux.HandleFunc("GET /api/things/shadow/ListNamedShadowsForThing/{thing}", func(w http.ResponseWriter, r *http.Request) {
		names, err := s.listNamed(r.PathValue("thing"))
		if err != nil {
			s.writeError(w, shadow.Internal())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": names, "timestamp": s.now().Unix()})
	})
}

func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request, op string) {
	thing, name := r.PathValue("thing"), r.URL.Query().Get("name")
	payload, err := io.ReadAll(io.LimitReader(r.Body, 128<<10+1))
	if err != nil {
		s.writeError(w, shadow.BadRequest("read the request: %v", err))
		return
	}
	doc, _, e := s.do(thing, name, op, payload)
	if e != nil {
		s.writeError(w, e)
		return
	}
	if op != "update" {
		// An HTTP delete is announced on MQTT as IoT Core does; a get is not.
		if op == "delete" {
			s.publish(Prefix(thing, name)+"/delete/accepted", doc)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

// writeError answers as the IoT data plane's restJson1 API does: the
// exception type in X-Amzn-ErrorType and {"message"} in the body, which is
// what the SDKs decode (the MQTT error document's numeric "code" is not a
// type they know).
func (s *Service) writeError(w http.ResponseWriter, e *shadow.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", httpErrorTypes[e.Code])
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
}

// httpErrorTypes are the data plane's exception types by status.
var httpErrorTypes = map[int]string{
	http.StatusBadRequest:            "InvalidRequestException",
	http.StatusUnauthorized:          "UnauthorizedException",
	http.StatusForbidden:             "ForbiddenException",
	http.StatusNotFound:              "ResourceNotFoundException",
	http.StatusMethodNotAllowed:      "MethodNotAllowedException",
	http.StatusConflict:              "ConflictException",
	http.StatusRequestEntityTooLarge: "RequestEntityTooLargeException",
	http.StatusUnsupportedMediaType:  "UnsupportedDocumentEncodingException",
	http.StatusTooManyRequests:       "ThrottlingException",
	http.StatusInternalServerError:   "InternalFailureException",
	http.StatusServiceUnavailable:    "ServiceUnavailableException",
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
