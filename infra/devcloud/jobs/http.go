package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RegisterHTTP adds the IoT control plane's job operations to mux, as
// aws-sdk-go-v2's iot client calls them (restJson1): CreateJob,
// DescribeJob, GetJobDocument, ListJobs, CancelJob, DeleteJob,
// ListJobExecutionsForJob, ListJobExecutionsForThing,
// DescribeJobExecution, CancelJobExecution and DeleteJobExecution.
// Requests are not SigV4-verified: the listener is loopback only.
func (s *Service) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc("PUT /jobs/{jobId}", s.createJob)
	mux.HandleFunc("GET /jobs/{jobId}", s.describeJob)
	mux.HandleFunc("PATCH /jobs/{jobId}", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errInvalid("devcloud does not serve UpdateJob; cancel the job and create another"))
	})
	mux.HandleFunc("DELETE /jobs/{jobId}", s.deleteJob)
	mux.HandleFunc("PUT /jobs/{jobId}/cancel", s.cancelJobHTTP)
	mux.HandleFunc("GET /jobs/{jobId}/job-document", s.getJobDocument)
	mux.HandleFunc("GET /jobs/{jobId}/things", s.listExecutionsForJob)
	mux.HandleFunc("GET /jobs", s.listJobs)
	mux.HandleFunc("GET /things/{thing}/jobs", s.listExecutionsForThing)
	mux.HandleFunc("GET /things/{thing}/jobs/{jobId}", s.describeExecution)
	mux.HandleFunc("PUT /things/{thing}/jobs/{jobId}/cancel", s.cancelExecution)
	mux.HandleFunc("DELETE /things/{thing}/jobs/{jobId}/executionNumber/{n}", s.deleteExecution)
}

// apiError is an error of the control plane: its type goes in
// X-Amzn-ErrorType, where the SDK reads it.
type apiError struct {
	status  int
	code    string
	message string
	extra   map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errInvalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf(format, args...), nil}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf(format, args...), nil}
}

func errTransition(format string, args ...any) *apiError {
	return &apiError{http.StatusConflict, "InvalidStateTransitionException", fmt.Sprintf(format, args...), nil}
}

func errInternal(err error) *apiError {
	return &apiError{http.StatusInternalServerError, "InternalFailureException", err.Error(), nil}
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]string{"message": e.message}
	for k, v := range e.extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// epoch is a control-plane timestamp: epoch seconds, fractional.
func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return math.Round(float64(t.UnixMilli())) / 1000
}

func boolQuery(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

// createJobRequest is CreateJob's body.
type createJobRequest struct {
	Targets            []string        `json:"targets"`
	Document           *string         `json:"document"`
	DocumentSource     *string         `json:"documentSource"`
	Description        string          `json:"description"`
	TargetSelection    string          `json:"targetSelection"`
	NamespaceID        string          `json:"namespaceId"`
	AbortConfig        *AbortConfig    `json:"abortConfig"`
	TimeoutConfig      *TimeoutConfig  `json:"timeoutConfig"`
	RolloutConfig      json.RawMessage `json:"jobExecutionsRolloutConfig"`
	RetryConfig        json.RawMessage `json:"jobExecutionsRetryConfig"`
	PresignedURLConfig json.RawMessage `json:"presignedUrlConfig"`
	JobTemplateArn     string          `json:"jobTemplateArn"`
	SchedulingConfig   json.RawMessage `json:"schedulingConfig"`
}

func (req *createJobRequest) check(id string) *apiError {
	if !jobIDPattern.MatchString(id) {
		return errInvalid("jobId %q: want 1–64 of [a-zA-Z0-9_-]", id)
	}
	if len(req.Targets) == 0 {
		return errInvalid("targets: name at least one thing or thing group ARN")
	}
	for _, t := range req.Targets {
		if _, _, err := parseTargetArn(t); err != nil {
			return errInvalid("%v", err)
		}
	}
	switch {
	case (req.Document == nil) == (req.DocumentSource == nil):
		return errInvalid("give exactly one of document and documentSource")
	case req.Document != nil && utf8.RuneCountInString(*req.Document) > MaxDocumentChars:
		return errInvalid("document has %d characters, over IoT Jobs' %d: use documentSource", utf8.RuneCountInString(*req.Document), MaxDocumentChars)
	case req.JobTemplateArn != "":
		return errInvalid("devcloud does not serve job templates: give the document")
	case len(req.SchedulingConfig) > 0 && string(req.SchedulingConfig) != "null":
		return errInvalid("devcloud does not serve schedulingConfig")
	}
	switch req.TargetSelection {
	case "":
		req.TargetSelection = Snapshot
	case Snapshot, Continuous:
	default:
		return errInvalid("targetSelection %q: want SNAPSHOT or CONTINUOUS", req.TargetSelection)
	}
	if req.NamespaceID != "" && !namespacePattern.MatchString(req.NamespaceID) {
		return errInvalid("namespaceId %q: want [a-zA-Z0-9_-]+", req.NamespaceID)
	}
	if t := req.TimeoutConfig; t != nil && t.InProgressTimeoutInMinutes != 0 && (t.InProgressTimeoutInMinutes < 1 || t.InProgressTimeoutInMinutes > MaxTimeoutMinutes) {
		return errInvalid("timeoutConfig.inProgressTimeoutInMinutes %d: want 1–%d", t.InProgressTimeoutInMinutes, MaxTimeoutMinutes)
	}
	if a := req.AbortConfig; a != nil {
		if len(a.CriteriaList) == 0 {
			return errInvalid("abortConfig.criteriaList: give at least one criterion")
		}
		for i, c := range a.CriteriaList {
			switch {
			case !failureTypes[c.FailureType]:
				return errInvalid("abortConfig.criteriaList[%d].failureType %q: want FAILED, REJECTED, TIMED_OUT or ALL", i, c.FailureType)
			case c.Action != "CANCEL":
				return errInvalid("abortConfig.criteriaList[%d].action %q: want CANCEL", i, c.Action)
			case c.ThresholdPercentage <= 0 || c.ThresholdPercentage > 100:
				return errInvalid("abortConfig.criteriaList[%d].thresholdPercentage %v: want more than 0, at most 100", i, c.ThresholdPercentage)
			case c.MinNumberOfExecutedThings < 1:
				return errInvalid("abortConfig.criteriaList[%d].minNumberOfExecutedThings %d: want at least 1", i, c.MinNumberOfExecutedThings)
			}
		}
	}
	return nil
}

func (s *Service) createJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jobId")
	var req createJobRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, errInvalid("the request body is not CreateJob's JSON: %v", err))
		return
	}
	if e := req.check(id); e != nil {
		writeError(w, e)
		return
	}
	doc, e := s.document(r, &req)
	if e != nil {
		writeError(w, e)
		return
	}
	things, e := s.resolveTargets(r, req.Targets)
	if e != nil {
		writeError(w, e)
		return
	}
	j, e := s.CreateJob(id, &req, doc, things)
	if e != nil {
		writeError(w, e)
		return
	}
	out := map[string]any{"jobArn": j.JobArn, "jobId": j.JobID}
	if j.Description != "" {
		out["description"] = j.Description
	}
	writeJSON(w, out)
}

// document returns the job document, read from documentSource when given.
func (s *Service) document(r *http.Request, req *createJobRequest) (string, *apiError) {
	doc := ""
	if req.Document != nil {
		doc = *req.Document
	} else {
		if s.opts.Documents == nil {
			return "", errInvalid("documentSource: devcloud has no S3 to read it from; give the document")
		}
		b, err := s.opts.Documents.Fetch(r.Context(), *req.DocumentSource)
		if err != nil {
			return "", errInvalid("documentSource %s: %v", *req.DocumentSource, err)
		}
		if n := utf8.RuneCount(b); n > MaxDocumentChars {
			return "", errInvalid("the document at %s has %d characters, over IoT Jobs' %d", *req.DocumentSource, n, MaxDocumentChars)
		}
		doc = string(b)
	}
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return "", errInvalid("the job document is not valid JSON: %v", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(doc)); err != nil {
		return "", errInvalid("the job document is not valid JSON: %v", err)
	}
	return compact.String(), nil
}

// resolveTargets turns the target ARNs into thing names.
func (s *Service) resolveTargets(r *http.Request, targets []string) ([]string, *apiError) {
	set := map[string]bool{}
	for _, arn := range targets {
		kind, name, _ := parseTargetArn(arn)
		if kind == "thing" {
			ok, err := s.opts.Targets.ThingExists(r.Context(), name)
			if err != nil {
				return nil, errInternal(fmt.Errorf("look up thing %s: %w", name, err))
			}
			if !ok {
				return nil, errNotFound("thing %s does not exist (target %s)", name, arn)
			}
			set[name] = true
			continue
		}
		things, ok, err := s.opts.Targets.ThingsInGroup(r.Context(), name)
		if err != nil {
			return nil, errInternal(fmt.Errorf("list thing group %s: %w", name, err))
		}
		if !ok {
			return nil, errNotFound("thing group %s does not exist (target %s)", name, arn)
		}
		for _, t := range things {
			set[t] = true
		}
	}
	return sortedKeys(set), nil
}

// CreateJob creates job id with executions QUEUED for things and notifies
// them.
func (s *Service) CreateJob(id string, req *createJobRequest, doc string, things []string) (*Job, *apiError) {
	s.mu.Lock()
	defer s.unlock()
	if j, ok := s.jobs[id]; ok {
		return nil, &apiError{http.StatusConflict, "ResourceAlreadyExistsException", "a job " + id + " exists already (status " + string(j.Status) + ")",
			map[string]string{"resourceId": id, "resourceArn": j.JobArn}}
	}
	now := s.now()
	j := &Job{
		JobID: id, JobArn: s.jobArn(id), Targets: req.Targets, TargetSelection: req.TargetSelection,
		Document: doc, Description: req.Description, NamespaceID: req.NamespaceID,
		Status: JobInProgress, CreatedAt: now, LastUpdatedAt: now,
		AbortConfig: req.AbortConfig, TimeoutConfig: req.TimeoutConfig,
		RolloutConfig: nonNull(req.RolloutConfig), RetryConfig: nonNull(req.RetryConfig), PresignedURLConfig: nonNull(req.PresignedURLConfig),
	}
	if req.DocumentSource != nil {
		j.DocumentSource = *req.DocumentSource
	}
	if err := s.store.putJob(j); err != nil {
		_ = s.store.deleteJob(id)
		return nil, errInternal(fmt.Errorf("write job %s: %w", id, err))
	}
	s.jobs[id] = j
	s.execs[id] = map[string]*Execution{}
	var queued []*Execution
	for _, th := range things {
		e, err := s.queue(j, th, now)
		if err != nil {
			// Undo: the job was not acknowledged.
			delete(s.jobs, id)
			delete(s.execs, id)
			_ = s.store.deleteJob(id)
			return nil, errInternal(fmt.Errorf("write execution of job %s for %s: %w", id, th, err))
		}
		queued = append(queued, e)
	}
	s.log.Info("job created", "job", id, "targetSelection", j.TargetSelection, "things", len(things), "namespace", j.NamespaceID)
	for _, e := range queued {
		s.changed(e.ThingName, e.NamespaceID)
	}
	s.completeIfDone(j, now)
	return j, nil
}

func nonNull(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}

func (s *Service) jobOrNotFound(id string) (*Job, *apiError) {
	j := s.jobs[id]
	if j == nil {
		return nil, errNotFound("no job %s", id)
	}
	return j, nil
}

// lockJob takes mu and returns the request's job ({jobId}); when there is
// none it answers ResourceNotFoundException, releases mu and returns nil.
// The caller releases mu with s.unlock.
func (s *Service) lockJob(w http.ResponseWriter, r *http.Request) *Job {
	s.mu.Lock()
	j, e := s.jobOrNotFound(r.PathValue("jobId"))
	if e != nil {
		s.unlock()
		writeError(w, e)
		return nil
	}
	return j
}

// lockExecution is lockJob for the request's job execution.
func (s *Service) lockExecution(w http.ResponseWriter, r *http.Request) *Execution {
	s.mu.Lock()
	x, e := s.executionOrNotFound(r)
	if e != nil {
		s.unlock()
		writeError(w, e)
		return nil
	}
	return x
}

// processDetails counts the job's executions by status.
func (s *Service) processDetails(id string) map[string]int {
	counts := map[Status]int{}
	for _, e := range s.execs[id] {
		counts[e.Status]++
	}
	return map[string]int{
		"numberOfCanceledThings":   counts[Canceled],
		"numberOfFailedThings":     counts[Failed],
		"numberOfInProgressThings": counts[InProgress],
		"numberOfQueuedThings":     counts[Queued],
		"numberOfRejectedThings":   counts[Rejected],
		"numberOfRemovedThings":    counts[Removed],
		"numberOfSucceededThings":  counts[Succeeded],
		"numberOfTimedOutThings":   counts[TimedOut],
	}
}

func (s *Service) describeJob(w http.ResponseWriter, r *http.Request) {
	j := s.lockJob(w, r)
	if j == nil {
		return
	}
	defer s.unlock()
	job := map[string]any{
		"jobArn": j.JobArn, "jobId": j.JobID, "targets": j.Targets, "targetSelection": j.TargetSelection,
		"status": j.Status, "forceCanceled": j.ForceCanceled, "isConcurrent": false,
		"createdAt": epoch(j.CreatedAt), "lastUpdatedAt": epoch(j.LastUpdatedAt),
		"jobProcessDetails": s.processDetails(j.JobID),
	}
	optional := map[string]any{
		"description": j.Description, "namespaceId": j.NamespaceID, "reasonCode": j.ReasonCode, "comment": j.Comment,
	}
	for k, v := range optional {
		if v != "" {
			job[k] = v
		}
	}
	if !j.CompletedAt.IsZero() {
		job["completedAt"] = epoch(j.CompletedAt)
	}
	if j.AbortConfig != nil {
		job["abortConfig"] = j.AbortConfig
	}
	if j.TimeoutConfig != nil {
		job["timeoutConfig"] = j.TimeoutConfig
	}
	for k, v := range map[string]json.RawMessage{"jobExecutionsRolloutConfig": j.RolloutConfig, "jobExecutionsRetryConfig": j.RetryConfig, "presignedUrlConfig": j.PresignedURLConfig} {
		if len(v) > 0 {
			job[k] = v
		}
	}
	out := map[string]any{"job": job}
	if j.DocumentSource != "" {
		out["documentSource"] = j.DocumentSource
	}
	writeJSON(w, out)
}

func (s *Service) getJobDocument(w http.ResponseWriter, r *http.Request) {
	j := s.lockJob(w, r)
	if j == nil {
		return
	}
	defer s.unlock()
	writeJSON(w, map[string]string{"document": j.Document})
}

// writePage answers a List operation: items cut by maxResults and
// nextToken under key, with the token of the next page.
func writePage(w http.ResponseWriter, r *http.Request, key string, items []map[string]any) {
	got, next, e := page(r, items)
	if e != nil {
		writeError(w, e)
		return
	}
	out := map[string]any{key: got}
	if next != "" {
		out["nextToken"] = next
	}
	writeJSON(w, out)
}

// page cuts a sorted list by maxResults and nextToken (an offset).
func page[T any](r *http.Request, items []T) ([]T, string, *apiError) {
	start := 0
	if tok := r.URL.Query().Get("nextToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", errInvalid("nextToken %q is not one devcloud gave", tok)
		}
		start = n
	}
	limit := 250
	if m := r.URL.Query().Get("maxResults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > 250 {
			return nil, "", errInvalid("maxResults %q: want 1–250", m)
		}
		limit = n
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func (s *Service) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	var list []*Job
	for _, j := range s.jobs {
		if st := q.Get("status"); st != "" && string(j.Status) != st {
			continue
		}
		if ts := q.Get("targetSelection"); ts != "" && j.TargetSelection != ts {
			continue
		}
		if ns := q.Get("namespaceId"); ns != "" && j.NamespaceID != ns {
			continue
		}
		if g := q.Get("thingGroupName"); g != "" && !slices.ContainsFunc(j.Targets, func(t string) bool { return strings.HasSuffix(t, ":thinggroup/"+g) }) {
			continue
		}
		list = append(list, j)
	}
	slices.SortFunc(list, func(a, b *Job) int { return a.CreatedAt.Compare(b.CreatedAt) })
	items := make([]map[string]any, 0, len(list))
	for _, j := range list {
		m := map[string]any{"jobArn": j.JobArn, "jobId": j.JobID, "targetSelection": j.TargetSelection, "status": j.Status,
			"isConcurrent": false, "createdAt": epoch(j.CreatedAt), "lastUpdatedAt": epoch(j.LastUpdatedAt)}
		if !j.CompletedAt.IsZero() {
			m["completedAt"] = epoch(j.CompletedAt)
		}
		items = append(items, m)
	}
	s.unlock()
	writePage(w, r, "jobs", items)
}

// controlSummary is the control plane's JobExecutionSummary.
func controlSummary(e *Execution) map[string]any {
	m := map[string]any{"status": e.Status, "queuedAt": epoch(e.QueuedAt), "lastUpdatedAt": epoch(e.LastUpdatedAt),
		"executionNumber": e.ExecutionNumber, "retryAttempt": 0}
	if !e.StartedAt.IsZero() {
		m["startedAt"] = epoch(e.StartedAt)
	}
	return m
}

func (s *Service) listExecutionsForJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j, e := s.jobOrNotFound(r.PathValue("jobId"))
	if e != nil {
		s.unlock()
		writeError(w, e)
		return
	}
	status := r.URL.Query().Get("status")
	items := []map[string]any{}
	for _, x := range s.executionsOf(j.JobID) {
		if status == "" || string(x.Status) == status {
			items = append(items, map[string]any{"thingArn": s.thingArn(x.ThingName), "jobExecutionSummary": controlSummary(x)})
		}
	}
	s.unlock()
	writePage(w, r, "executionSummaries", items)
}

func (s *Service) listExecutionsForThing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	thing := r.PathValue("thing")
	s.mu.Lock()
	var list []*Execution
	for id, byThing := range s.execs {
		x := byThing[thing]
		switch {
		case x == nil,
			q.Get("status") != "" && string(x.Status) != q.Get("status"),
			q.Get("jobId") != "" && id != q.Get("jobId"),
			q.Has("namespaceId") && x.NamespaceID != q.Get("namespaceId"):
			continue
		}
		list = append(list, x)
	}
	slices.SortFunc(list, func(a, b *Execution) int { return int(a.Seq - b.Seq) })
	items := make([]map[string]any, 0, len(list))
	for _, x := range list {
		items = append(items, map[string]any{"jobId": x.JobID, "jobExecutionSummary": controlSummary(x)})
	}
	s.unlock()
	writePage(w, r, "executionSummaries", items)
}

func (s *Service) executionOrNotFound(r *http.Request) (*Execution, *apiError) {
	id, thing := r.PathValue("jobId"), r.PathValue("thing")
	x := s.execs[id][thing]
	if x == nil {
		return nil, errNotFound("no execution of job %s for thing %s", id, thing)
	}
	n := r.URL.Query().Get("executionNumber")
	if v := r.PathValue("n"); v != "" {
		n = v
	}
	if n != "" && n != strconv.FormatInt(x.ExecutionNumber, 10) {
		return nil, errNotFound("no execution %s of job %s for thing %s", n, id, thing)
	}
	return x, nil
}

func (s *Service) describeExecution(w http.ResponseWriter, r *http.Request) {
	x := s.lockExecution(w, r)
	if x == nil {
		return
	}
	defer s.unlock()
	exec := map[string]any{
		"jobId": x.JobID, "thingArn": s.thingArn(x.ThingName), "status": x.Status, "forceCanceled": x.ForceCanceled,
		"queuedAt": epoch(x.QueuedAt), "lastUpdatedAt": epoch(x.LastUpdatedAt),
		"executionNumber": x.ExecutionNumber, "versionNumber": x.VersionNumber,
		"statusDetails": map[string]any{"detailsMap": x.StatusDetails},
	}
	if !x.StartedAt.IsZero() {
		exec["startedAt"] = epoch(x.StartedAt)
	}
	if d := x.deadline(); x.Status == InProgress && !d.IsZero() {
		exec["approximateSecondsBeforeTimedOut"] = max(0, int64(d.Sub(s.now()).Seconds()))
	}
	writeJSON(w, map[string]any{"execution": exec})
}

func (s *Service) cancelJobHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ReasonCode string `json:"reasonCode"`
		Comment    string `json:"comment"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, errInvalid("the request body is not CancelJob's JSON: %v", err))
		return
	}
	force := boolQuery(r, "force")
	j := s.lockJob(w, r)
	if j == nil {
		return
	}
	defer s.unlock()
	switch {
	case j.Status == JobCompleted:
		writeError(w, errInvalid("job %s is COMPLETED: there is nothing to cancel", j.JobID))
		return
	case j.Status == JobCanceled && !force:
		writeError(w, errInvalid("job %s is CANCELED already (force=true cancels its IN_PROGRESS executions too)", j.JobID))
		return
	}
	if err := s.cancelJob(j, force, body.ReasonCode, body.Comment, s.now()); err != nil {
		writeError(w, errInternal(err))
		return
	}
	out := map[string]any{"jobArn": j.JobArn, "jobId": j.JobID}
	if j.Description != "" {
		out["description"] = j.Description
	}
	writeJSON(w, out)
}

func (s *Service) deleteJob(w http.ResponseWriter, r *http.Request) {
	force := boolQuery(r, "force")
	j := s.lockJob(w, r)
	if j == nil {
		return
	}
	defer s.unlock()
	if j.Status == JobInProgress && !force {
		writeError(w, errTransition("job %s is IN_PROGRESS: cancel it first, or delete with force=true", j.JobID))
		return
	}
	execs := s.executionsOf(j.JobID)
	if err := s.store.deleteJob(j.JobID); err != nil {
		writeError(w, errInternal(err))
		return
	}
	delete(s.jobs, j.JobID)
	delete(s.execs, j.JobID)
	s.log.Info("job deleted", "job", j.JobID, "force", force)
	for _, x := range execs {
		if !x.Status.Terminal() {
			s.changed(x.ThingName, x.NamespaceID)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) cancelExecution(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ExpectedVersion *int64            `json:"expectedVersion"`
		StatusDetails   map[string]string `json:"statusDetails"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, errInvalid("the request body is not CancelJobExecution's JSON: %v", err))
		return
	}
	if err := checkStatusDetails(body.StatusDetails); err != nil {
		writeError(w, errInvalid("%v", err))
		return
	}
	if len(body.StatusDetails) > MaxCancelDetailsPairs {
		writeError(w, errInvalid("statusDetails has %d pairs: at most %d", len(body.StatusDetails), MaxCancelDetailsPairs))
		return
	}
	force := boolQuery(r, "force")
	x := s.lockExecution(w, r)
	if x == nil {
		return
	}
	defer s.unlock()
	switch {
	case body.ExpectedVersion != nil && *body.ExpectedVersion != x.VersionNumber:
		writeError(w, &apiError{http.StatusConflict, "VersionConflictException",
			fmt.Sprintf("expectedVersion %d, but the execution is at version %d", *body.ExpectedVersion, x.VersionNumber), nil})
		return
	case x.Status.Terminal():
		writeError(w, errTransition("the execution of job %s for %s is %s, a terminal status", x.JobID, x.ThingName, x.Status))
		return
	case x.Status == InProgress && !force:
		writeError(w, errTransition("the execution of job %s for %s is IN_PROGRESS: cancel with force=true", x.JobID, x.ThingName))
		return
	}
	prev := *x
	if body.StatusDetails != nil {
		x.StatusDetails = body.StatusDetails
	}
	x.ForceCanceled = x.Status == InProgress
	if err := s.setStatus(x, Canceled, s.now()); err != nil {
		*x = prev
		writeError(w, errInternal(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) deleteExecution(w http.ResponseWriter, r *http.Request) {
	force := boolQuery(r, "force")
	x := s.lockExecution(w, r)
	if x == nil {
		return
	}
	defer s.unlock()
	if !x.Status.Terminal() && !force {
		writeError(w, errTransition("the execution of job %s for %s is %s: delete it with force=true, or when it has ended", x.JobID, x.ThingName, x.Status))
		return
	}
	if err := s.store.deleteExecution(x); err != nil {
		writeError(w, errInternal(err))
		return
	}
	delete(s.execs[x.JobID], x.ThingName)
	if !x.Status.Terminal() {
		s.changed(x.ThingName, x.NamespaceID)
	}
	w.WriteHeader(http.StatusOK)
}
