package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Filter is the MQTT filter the service listens on.
const Filter = "$aws/things/+/jobs/#"

// NextJobID stands for the thing's next pending execution in a get.
const NextJobID = "$next"

// The rejected codes of the jobs MQTT API.
const (
	CodeInvalidTopic           = "InvalidTopic"
	CodeInvalidJSON            = "InvalidJson"
	CodeInvalidRequest         = "InvalidRequest"
	CodeInvalidStateTransition = "InvalidStateTransition"
	CodeResourceNotFound       = "ResourceNotFound"
	CodeVersionMismatch        = "VersionMismatch"
	CodeInternalError          = "InternalError"
)

// request is a device request named by its topic.
type request struct {
	thing, ns, op, jobID string
}

// parseRequest reads a jobs topic. ok is false for topics the service
// publishes itself (notify*, */accepted, */rejected), which it ignores;
// a topic that names no operation is an InvalidTopic request.
//
//	$aws/things/<t>/jobs/get
//	$aws/things/<t>/jobs/start-next
//	$aws/things/<t>/jobs/<jobId>/get|update
//	$aws/things/<t>/jobs/<jobId>/namespace-<ns>/get|update   (Greengrass)
func parseRequest(topic string) (r request, ok bool) {
	p := strings.Split(topic, "/")
	if len(p) < 5 || p[0] != "$aws" || p[1] != "things" || p[3] != "jobs" {
		return r, false
	}
	last := p[len(p)-1]
	if last == "accepted" || last == "rejected" || (len(p) == 5 && strings.HasPrefix(last, "notify")) {
		return r, false
	}
	r.thing = p[2]
	rest := p[4:]
	if len(rest) == 3 {
		ns, found := strings.CutPrefix(rest[1], "namespace-")
		if found && ns != "" {
			r.ns, rest = ns, []string{rest[0], rest[2]}
		}
	}
	switch {
	case len(rest) == 1 && (rest[0] == "get" || rest[0] == "start-next"):
		r.op = rest[0]
	case len(rest) == 2 && (rest[1] == "get" || rest[1] == "update"):
		r.op, r.jobID = rest[1], rest[0]
	default:
		r.op = "invalid"
	}
	return r, true
}

// rejection is a rejected answer.
type rejection struct {
	Code           string          `json:"code"`
	Message        string          `json:"message"`
	ClientToken    string          `json:"clientToken,omitempty"`
	Timestamp      int64           `json:"timestamp"`
	ExecutionState *executionState `json:"executionState,omitempty"`
}

func (r *rejection) Error() string { return r.Code + ": " + r.Message }

func reject(code, format string, args ...any) *rejection {
	return &rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// HandleMQTT answers a device's request published on a jobs topic by
// client clientID, on the request topic + /accepted or /rejected.
func (s *Service) HandleMQTT(clientID, topic string, payload []byte) {
	r, ok := parseRequest(topic)
	if !ok {
		return
	}
	s.mu.Lock()
	answer, token, rej := s.do(r, payload)
	ts := s.now().Unix()
	s.unlockAfter(func() {
		if rej != nil {
			rej.ClientToken, rej.Timestamp = token, ts
			s.log.Info("jobs request rejected", "thing", r.thing, "topic", topic, "code", rej.Code, "message", rej.Message)
			s.reply(clientID, topic+"/rejected", rej)
			return
		}
		answer["timestamp"] = ts
		if token != "" {
			answer["clientToken"] = token
		}
		s.log.Info("jobs request accepted", "thing", r.thing, "client", clientID, "topic", topic)
		s.reply(clientID, topic+"/accepted", answer)
	})
}

func (s *Service) reply(clientID, topic string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode answer", "topic", topic, "error", err)
		return
	}
	if s.opts.Reply == nil || clientID == "" {
		s.opts.Publish(topic, b)
		return
	}
	// Never to anyone else: a requester that left gets no answer.
	if err := s.opts.Reply(clientID, topic, b); err != nil {
		s.log.Info("answer not delivered", "client", clientID, "topic", topic, "error", err)
	}
}

// The request payloads; pointers tell a missing field from a zero one.
type (
	getPendingRequest struct {
		ClientToken string `json:"clientToken"`
	}
	startNextRequest struct {
		StatusDetails        map[string]string `json:"statusDetails"`
		StepTimeoutInMinutes *int64            `json:"stepTimeoutInMinutes"`
		ClientToken          string            `json:"clientToken"`
	}
	describeRequest struct {
		ExecutionNumber    *int64 `json:"executionNumber"`
		IncludeJobDocument *bool  `json:"includeJobDocument"`
		ClientToken        string `json:"clientToken"`
	}
	updateRequest struct {
		Status                   *Status           `json:"status"`
		StatusDetails            map[string]string `json:"statusDetails"`
		ExpectedVersion          *int64            `json:"expectedVersion"`
		ExecutionNumber          *int64            `json:"executionNumber"`
		IncludeJobExecutionState bool              `json:"includeJobExecutionState"`
		IncludeJobDocument       bool              `json:"includeJobDocument"`
		StepTimeoutInMinutes     *int64            `json:"stepTimeoutInMinutes"`
		ClientToken              string            `json:"clientToken"`
	}
)

// decode reads a request payload: text that is not JSON is InvalidJson,
// JSON of the wrong shape InvalidRequest. The client token is read first
// so that a rejection of the rest still echoes it. An empty payload is an
// empty request.
func decode(payload []byte, v any) (token string, rej *rejection) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		return "", reject(CodeInvalidJSON, "the payload is not valid UTF-8 JSON")
	}
	var t struct {
		ClientToken any `json:"clientToken"`
	}
	if err := json.Unmarshal(payload, &t); err != nil {
		return "", reject(CodeInvalidRequest, "the payload must be a JSON object: %v", err)
	}
	if str, ok := t.ClientToken.(string); ok {
		token = str
	}
	if err := json.Unmarshal(payload, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return token, reject(CodeInvalidRequest, "field %s: %s is not a %s", typeErr.Field, typeErr.Value, typeErr.Type)
		}
		return token, reject(CodeInvalidRequest, "%v", err)
	}
	return token, nil
}

// do runs one request (under mu) and returns the accepted document.
func (s *Service) do(r request, payload []byte) (map[string]any, string, *rejection) {
	if r.op == "invalid" {
		return nil, "", reject(CodeInvalidTopic, "the topic names no jobs API: publish to $aws/things/<thing>/jobs/get, …/start-next, …/<jobId>/get or …/<jobId>/update")
	}
	if !thingNamePattern.MatchString(r.thing) {
		return nil, "", reject(CodeInvalidTopic, "thing name %q: want 1–128 of [a-zA-Z0-9:_-]", r.thing)
	}
	switch r.op {
	case "get":
		if r.jobID != "" {
			return s.describe(r, payload)
		}
		var req getPendingRequest
		token, rej := decode(payload, &req)
		if rej != nil {
			return nil, token, rej
		}
		inProgress, queued := []summary{}, []summary{}
		for _, e := range s.pending(r.thing, r.ns) {
			if e.Status == InProgress {
				inProgress = append(inProgress, s.summary(e))
			} else {
				queued = append(queued, s.summary(e))
			}
		}
		return map[string]any{"inProgressJobs": inProgress, "queuedJobs": queued}, token, nil
	case "start-next":
		return s.startNext(r, payload)
	default:
		return s.update(r, payload)
	}
}

func (s *Service) describe(r request, payload []byte) (map[string]any, string, *rejection) {
	var req describeRequest
	token, rej := decode(payload, &req)
	if rej != nil {
		return nil, token, rej
	}
	withDoc := req.IncludeJobDocument == nil || *req.IncludeJobDocument
	if r.jobID == NextJobID {
		e := s.nextExecution(r.thing, r.ns)
		if e == nil {
			return map[string]any{}, token, nil
		}
		return map[string]any{"execution": s.executionData(e, withDoc)}, token, nil
	}
	e, rej := s.find(r, req.ExecutionNumber)
	if rej != nil {
		return nil, token, rej
	}
	return map[string]any{"execution": s.executionData(e, withDoc)}, token, nil
}

// find returns the thing's execution of r.jobID in r's namespace.
func (s *Service) find(r request, executionNumber *int64) (*Execution, *rejection) {
	e := s.execs[r.jobID][r.thing]
	if e == nil || e.NamespaceID != r.ns || (executionNumber != nil && *executionNumber != e.ExecutionNumber) {
		if executionNumber != nil {
			return nil, reject(CodeResourceNotFound, "no execution %d of job %s for thing %s", *executionNumber, r.jobID, r.thing)
		}
		return nil, reject(CodeResourceNotFound, "no execution of job %s for thing %s", r.jobID, r.thing)
	}
	return e, nil
}

func (s *Service) startNext(r request, payload []byte) (map[string]any, string, *rejection) {
	var req startNextRequest
	token, rej := decode(payload, &req)
	if rej != nil {
		return nil, token, rej
	}
	if err := checkStatusDetails(req.StatusDetails); err != nil {
		return nil, token, reject(CodeInvalidRequest, "%v", err)
	}
	if err := checkStepTimeout(req.StepTimeoutInMinutes, false); err != nil {
		return nil, token, reject(CodeInvalidRequest, "%v", err)
	}
	e := s.nextExecution(r.thing, r.ns)
	if e == nil {
		return map[string]any{}, token, nil
	}
	if e.Status == Queued {
		now := s.now()
		prev := *e
		if req.StatusDetails != nil {
			e.StatusDetails = req.StatusDetails
		}
		if req.StepTimeoutInMinutes != nil {
			e.StepDeadline = now.Add(time.Duration(*req.StepTimeoutInMinutes) * time.Minute)
		}
		if err := s.setStatus(e, InProgress, now); err != nil {
			*e = prev
			s.log.Error("start job execution", "job", e.JobID, "thing", e.ThingName, "error", err)
			return nil, token, reject(CodeInternalError, "the execution could not be written")
		}
	}
	return map[string]any{"execution": s.executionData(e, true)}, token, nil
}

func (s *Service) update(r request, payload []byte) (map[string]any, string, *rejection) {
	var req updateRequest
	token, rej := decode(payload, &req)
	if rej != nil {
		return nil, token, rej
	}
	switch {
	case req.Status == nil:
		return nil, token, reject(CodeInvalidRequest, "status is required: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED")
	case !req.Status.deviceSettable():
		return nil, token, reject(CodeInvalidRequest, "status %q: a device sets IN_PROGRESS, SUCCEEDED, FAILED or REJECTED", *req.Status)
	}
	if err := checkStatusDetails(req.StatusDetails); err != nil {
		return nil, token, reject(CodeInvalidRequest, "%v", err)
	}
	if err := checkStepTimeout(req.StepTimeoutInMinutes, true); err != nil {
		return nil, token, reject(CodeInvalidRequest, "%v", err)
	}
	if !jobIDPattern.MatchString(r.jobID) {
		return nil, token, reject(CodeResourceNotFound, "no job %q (job ids are 1–64 of [a-zA-Z0-9_-])", r.jobID)
	}
	e, rej := s.find(r, req.ExecutionNumber)
	if rej != nil {
		return nil, token, rej
	}
	if req.ExpectedVersion != nil && *req.ExpectedVersion != e.VersionNumber {
		rej := reject(CodeVersionMismatch, "expectedVersion %d, but the execution is at version %d", *req.ExpectedVersion, e.VersionNumber)
		rej.ExecutionState = stateOf(e)
		return nil, token, rej
	}
	if e.Status.Terminal() {
		rej := reject(CodeInvalidStateTransition, "the execution is %s, a terminal status: it cannot become %s", e.Status, *req.Status)
		rej.ExecutionState = stateOf(e)
		return nil, token, rej
	}
	now := s.now()
	prev := *e
	if req.StatusDetails != nil {
		e.StatusDetails = req.StatusDetails
	}
	if *req.Status == InProgress && req.StepTimeoutInMinutes != nil {
		if *req.StepTimeoutInMinutes == -1 {
			e.StepDeadline = time.Time{}
		} else {
			e.StepDeadline = now.Add(time.Duration(*req.StepTimeoutInMinutes) * time.Minute)
		}
	}
	if err := s.setStatus(e, *req.Status, now); err != nil {
		*e = prev
		s.log.Error("update job execution", "job", e.JobID, "thing", e.ThingName, "error", err)
		return nil, token, reject(CodeInternalError, "the execution could not be written")
	}
	out := map[string]any{}
	if req.IncludeJobExecutionState {
		out["executionState"] = stateOf(e)
	}
	if req.IncludeJobDocument {
		if j := s.jobs[e.JobID]; j != nil {
			out["jobDocument"] = json.RawMessage(j.Document)
		}
	}
	return out, token, nil
}
