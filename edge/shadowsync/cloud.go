package shadowsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/shadow"
)

// The cloud side: IoT Core's shadow topics through the link. Requests go
// out with QoS 0 (the answer is awaited, and a request must not wait in
// the spool behind telemetry, nor reach the cloud after it was given up:
// what is pending is the shadows' state, not the requests), each with its
// own clientToken (iotcore.Pending); the answers and the cloud's own changes arrive on one
// subscription per thing, $aws/things/<thing>/shadow/#.

var (
	// errOffline: the link is down; the sync waits for it to come back.
	errOffline = errors.New("not connected to AWS IoT Core")
	// errConflict: a conditional write found the shadow at another version.
	errConflict = errors.New("version conflict")
	// errNoAnswer: a request got no answer in time; it may have been
	// applied.
	errNoAnswer = errors.New("no answer from AWS IoT Core")
)

// cloudError is a /rejected answer.
type cloudError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *cloudError) Error() string { return fmt.Sprintf("IoT Core answered %d %s", e.Code, e.Message) }

// permanent reports whether a rejection will not change by retrying
// (400, 404, 413, 415): the shadow is skipped until it changes again.
func (e *cloudError) permanent() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != 409 && e.Code != 429
}

// answer is what a request got: the result topic's last token and payload.
type answer struct {
	result  string
	payload []byte
}

// filter is the subscription of one thing's shadow topics.
func filter(thing string) string { return "$aws/things/" + thing + "/shadow/#" }

func topic(sh Shadow, op string) string {
	p := "$aws/things/" + sh.Thing + "/shadow"
	if sh.Name != "" {
		p += "/name/" + sh.Name
	}
	return p + "/" + op
}

// parseTopic splits an answer or event topic: the shadow, the operation
// and the result (accepted, rejected, delta, documents).
func parseTopic(t string) (sh Shadow, op, result string, ok bool) {
	p := strings.Split(t, "/")
	switch {
	case len(p) == 6 && p[0] == "$aws" && p[1] == "things" && p[3] == "shadow":
		return Shadow{Thing: p[2]}, p[4], p[5], true
	case len(p) == 8 && p[0] == "$aws" && p[1] == "things" && p[3] == "shadow" && p[4] == "name":
		return Shadow{Thing: p[2], Name: p[5]}, p[6], p[7], true
	}
	return Shadow{}, "", "", false
}

// request sends one shadow request and waits for its answer. body is the
// request without its clientToken, which request adds.
func (s *Service) request(ctx context.Context, sh Shadow, op string, body map[string]any) (answer, error) {
	if !s.opts.Link.State(ctx).Connected {
		return answer{}, errOffline
	}
	if err := s.limiter.Wait(ctx); err != nil {
		return answer{}, err
	}
	token, ch, done := s.pending.Add()
	defer done()
	if body == nil {
		body = map[string]any{}
	}
	body["clientToken"] = token
	payload, _ := json.Marshal(body)
	s.sent.Add(1)
	if err := s.opts.Link.Publish(ctx, iotcore.Message{Topic: topic(sh, op), Payload: payload, QoS: 0}); err != nil {
		if errors.Is(err, iotcore.ErrOffline) {
			return answer{}, errOffline
		}
		return answer{}, fmt.Errorf("%s %s: %w", op, sh, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	select {
	case a := <-ch:
		if a.result == "rejected" {
			var e cloudError
			if err := json.Unmarshal(a.payload, &e); err != nil || e.Code == 0 {
				return a, fmt.Errorf("%s %s rejected with an unreadable error document: %s", op, sh, a.payload)
			}
			if e.Code == 409 {
				return a, errConflict
			}
			return a, &e
		}
		return a, nil
	case <-ctx.Done():
		return answer{}, fmt.Errorf("%s %s: %w within %s", op, sh, errNoAnswer, s.opts.RequestTimeout)
	}
}

// cloudGet reads the cloud shadow; a 404 is a shadow that does not exist.
func (s *Service) cloudGet(ctx context.Context, sh Shadow) (shadow.Snapshot, error) {
	a, err := s.request(ctx, sh, "get", nil)
	var ce *cloudError
	if errors.As(err, &ce) && ce.Code == 404 {
		return shadow.Snapshot{}, nil
	}
	if err != nil {
		return shadow.Snapshot{}, err
	}
	var doc struct {
		State   state `json:"state"`
		Version int64 `json:"version"`
	}
	if err := decode(a.payload, &doc); err != nil {
		return shadow.Snapshot{}, fmt.Errorf("get %s: unreadable /get/accepted: %w", sh, err)
	}
	return shadow.Snapshot{Exists: true, Version: doc.Version, Desired: doc.State.Desired, Reported: doc.State.Reported}, nil
}

// cloudUpdate sends an update document and returns the new version.
func (s *Service) cloudUpdate(ctx context.Context, sh Shadow, doc []byte) (int64, error) {
	var body map[string]any
	if err := decode(doc, &body); err != nil {
		return 0, err
	}
	a, err := s.request(ctx, sh, "update", body)
	if err != nil {
		return 0, err
	}
	var acc struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(a.payload, &acc); err != nil {
		return 0, fmt.Errorf("update %s: unreadable /update/accepted: %w", sh, err)
	}
	return acc.Version, nil
}

// cloudDelete deletes the cloud shadow if it is at version; a shadow
// already gone is fine.
func (s *Service) cloudDelete(ctx context.Context, sh Shadow, version int64) error {
	_, err := s.request(ctx, sh, "delete", map[string]any{"version": version})
	var ce *cloudError
	if errors.As(err, &ce) && ce.Code == 404 {
		return nil
	}
	return err
}

// onCloud receives every message on the things' shadow topics: answers to
// the service's requests, and the cloud's own changes (update/documents,
// delete/accepted), which it remembers and syncs. It runs on the link's
// delivery goroutine and does not block.
func (s *Service) onCloud(m iotcore.Message) {
	sh, op, result, ok := parseTopic(m.Topic)
	if !ok {
		return
	}
	var tail struct {
		ClientToken string `json:"clientToken"`
		Version     int64  `json:"version"`
		Current     *struct {
			State   state `json:"state"`
			Version int64 `json:"version"`
		} `json:"current"`
	}
	if err := decode(m.Payload, &tail); err != nil {
		s.log.Warn("unreadable message on a cloud shadow topic", "topic", m.Topic, "error", err)
		return
	}
	if result == "accepted" || result == "rejected" {
		s.pending.Answer(tail.ClientToken, answer{result: result, payload: m.Payload})
	}
	e := s.entries[sh]
	if e == nil {
		return // a shadow of the thing that is not synced
	}
	switch {
	case op == "update" && result == "documents" && tail.Current != nil:
		c := shadow.Snapshot{Exists: true, Version: tail.Current.Version, Desired: tail.Current.State.Desired, Reported: tail.Current.State.Reported}
		if s.learn(e, c) {
			s.mark(e)
		}
	case op == "delete" && result == "accepted":
		if s.learn(e, shadow.Snapshot{Version: tail.Version}) {
			s.mark(e)
		}
	}
}

// learn records what the cloud shadow is now, if it is news: a version
// above the one known, or a change of existence. It reports whether it
// was news.
func (s *Service) learn(e *entry, c shadow.Snapshot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := e.cloud
	if e.cloudKnown && k.Exists == c.Exists && c.Version <= k.Version {
		return false
	}
	if e.cloudKnown && k.Exists && !c.Exists && c.Version < k.Version {
		return false // the delete of an older incarnation
	}
	e.cloud, e.cloudKnown = c, true
	return true
}

func decode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}
