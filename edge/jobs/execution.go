package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/iotcore"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/shared/topics"
)

// execution is a job execution as start-next gives it.
type execution struct {
	JobID           string          `json:"jobId"`
	Status          string          `json:"status"`
	JobDocument     json.RawMessage `json:"jobDocument"`
	VersionNumber   int64           `json:"versionNumber"`
	ExecutionNumber int64           `json:"executionNumber"`
}

// executionState is what an update answer says of the execution.
type executionState struct {
	Status        string `json:"status"`
	VersionNumber int64  `json:"versionNumber"`
}

// rejection is a rejected answer.
type rejection struct {
	Code           string          `json:"code"`
	Message        string          `json:"message"`
	ExecutionState *executionState `json:"executionState"`
}

// terminalStatus reports whether an execution status is terminal.
func terminalStatus(s string) bool {
	switch s {
	case "SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED":
		return true
	}
	return false
}

// mapping is one job execution and the deployment it became, written to
// the bucket before the step it records is acted on.
type mapping struct {
	JobID           string `json:"jobId"`
	ExecutionNumber int64  `json:"executionNumber"`
	DeploymentID    string `json:"deploymentId"`
	// VersionNumber is the execution's last known version.
	VersionNumber int64 `json:"versionNumber,omitempty"`
	// Outcome, once set, is what the device reports; it is sent until IoT
	// Jobs has it.
	Outcome *outcome `json:"outcome,omitempty"`
	// Sent says IoT Jobs accepted the outcome, or had the execution in a
	// terminal state already.
	Sent bool `json:"sent,omitempty"`
}

// outcome is a job's terminal report.
type outcome struct {
	Status  deploymentstatus.Status `json:"status"`
	Detail  ddoc.State              `json:"detail,omitempty"`
	Reason  string                  `json:"reason,omitempty"`
	Details map[string]string       `json:"statusDetails"`
}

func (s *Service) topic(parts ...string) string {
	t := "$aws/things/" + s.opts.ThingName + "/jobs"
	for _, p := range parts {
		t += "/" + p
	}
	return t
}

// startNext asks for the next pending execution and starts it; nil when
// none is pending.
func (s *Service) startNext(ctx context.Context) (*execution, error) {
	r, err := s.request(ctx, s.topic("start-next"), map[string]any{}, 0)
	if err != nil {
		return nil, err
	}
	if !r.accepted {
		return nil, fmt.Errorf("start-next rejected: %s", r.data)
	}
	var a struct {
		Execution *execution `json:"execution"`
	}
	if err := json.Unmarshal(r.data, &a); err != nil {
		return nil, fmt.Errorf("start-next answer %s: %w", r.data, err)
	}
	return a.Execution, nil
}

func (s *Service) load(ctx context.Context, jobID string) (*mapping, error) {
	e, err := s.kv.Get(ctx, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s from %s: %w", jobID, s.opts.Bucket, err)
	}
	m := &mapping{}
	if err := json.Unmarshal(e.Value(), m); err != nil {
		s.log.Warn("job record is corrupt; the job starts again", "job", jobID, "error", err)
		return nil, nil
	}
	return m, nil
}

func (s *Service) save(m *mapping) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// A background context: what was decided must be written even while
	// the service stops.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.kv.Put(ctx, m.JobID, data); err != nil {
		return fmt.Errorf("write job %s to %s: %w", m.JobID, s.opts.Bucket, err)
	}
	return nil
}

// handle takes one execution to its terminal report (see the package
// documentation for the steps). An error leaves it for the next start-next.
func (s *Service) handle(ctx context.Context, exec *execution) error {
	log := s.log.With("job", exec.JobID, "execution", exec.ExecutionNumber)
	m, err := s.load(ctx, exec.JobID)
	if err != nil {
		return err
	}
	if m == nil || m.ExecutionNumber != exec.ExecutionNumber {
		m = &mapping{JobID: exec.JobID, ExecutionNumber: exec.ExecutionNumber, DeploymentID: s.deploymentID(exec)}
	}
	m.VersionNumber = exec.VersionNumber
	if m.Outcome != nil {
		log.Info("sending a job's outcome again", "status", m.Outcome.Status)
		return s.sendOutcome(ctx, m)
	}
	if _, err := s.opts.Engine.Get(m.DeploymentID); errors.Is(err, deployment.ErrUnknownDeployment) {
		applied, err := s.submit(ctx, exec, m)
		if err != nil || !applied {
			return err
		}
	} else if err != nil {
		return err
	}
	st, err := s.wait(ctx, m)
	if err != nil {
		return err
	}
	return s.finish(ctx, m, outcomeOf(st))
}

// wait waits for m's deployment to end. When IoT Jobs says the next
// pending execution is another one (or none), the job may have been
// canceled: an IN_PROGRESS update tells, and a terminal answer cancels the
// deployment in the engine, which then fails it and follows its failure
// handling (edge/deployment's Cancel).
func (s *Service) wait(ctx context.Context, m *mapping) (ddoc.Status, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	type result struct {
		st  ddoc.Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.opts.Engine.Wait(wctx, m.DeploymentID)
		done <- result{st, err}
	}()
	for {
		select {
		case r := <-done:
			return r.st, r.err
		case next := <-s.next:
			if next == m.JobID {
				continue
			}
			state, err := s.update(ctx, m, deploymentstatus.InProgress, map[string]string{"detailed-deployment-status": "IN_PROGRESS"})
			if err != nil || !terminalStatus(state) {
				continue // offline, or still the device's: go on waiting
			}
			reason := "the job is " + state + " in IoT Jobs"
			s.log.Info("job ended in the cloud while the device applies it; canceling the deployment", "job", m.JobID, "deployment", m.DeploymentID, "status", state)
			if err := s.opts.Engine.Cancel(m.DeploymentID, reason); err != nil && !errors.Is(err, deployment.ErrNotCancelable) {
				s.log.Warn("deployment not canceled", "deployment", m.DeploymentID, "error", err)
			}
		}
	}
}

// deploymentID is the engine's id for exec: the job id, or for a later
// execution of a job the device deployed before, <jobId>-<executionNumber>.
func (s *Service) deploymentID(exec *execution) string {
	if exec.ExecutionNumber <= 1 {
		return exec.JobID
	}
	if _, err := s.opts.Engine.Get(exec.JobID); errors.Is(err, deployment.ErrUnknownDeployment) {
		return exec.JobID
	}
	suffix := "-" + strconv.FormatInt(exec.ExecutionNumber, 10)
	return exec.JobID[:min(len(exec.JobID), 64-len(suffix))] + suffix
}

// submit reads exec's document and recipes, makes sure the job is still
// the device's to run, and queues its deployment. applied is false when the
// job ended without one (rejected, or canceled in the cloud).
func (s *Service) submit(ctx context.Context, exec *execution, m *mapping) (applied bool, err error) {
	log := s.log.With("job", exec.JobID, "deployment", m.DeploymentID)
	doc, err := decodeJobDocument(exec.JobDocument)
	if err != nil {
		return false, s.finish(ctx, m, rejected(err))
	}
	doc.DeploymentID = m.DeploymentID
	dir, err := os.MkdirTemp(s.opts.TempDir, "sward-job-recipes-")
	if err != nil {
		return false, fmt.Errorf("stage the recipes of job %s: %w", exec.JobID, err)
	}
	defer os.RemoveAll(dir)
	if err := s.fetchRecipes(ctx, doc, dir); err != nil {
		if ctx.Err() != nil || errors.Is(err, errTransient) {
			return false, err
		}
		return false, s.finish(ctx, m, rejected(err))
	}
	if err := s.save(m); err != nil {
		return false, err
	}
	// The cancel check: an execution canceled (or removed) in the cloud
	// since start-next answers this update with its terminal state.
	state, err := s.update(ctx, m, deploymentstatus.InProgress, map[string]string{"detailed-deployment-status": "IN_PROGRESS"})
	if err != nil {
		return false, err
	}
	if terminalStatus(state) {
		log.Info("job ended in the cloud before the device applied it; not applied", "status", state)
		m.Outcome, m.Sent = &outcome{Status: deploymentstatus.Rejected, Reason: "the job is " + state + " in IoT Jobs; not applied"}, true
		return false, s.save(m)
	}
	req := deployment.Request{Document: doc, RecipeDir: dir, JobID: exec.JobID}
	if commit, ok := strings.CutPrefix(exec.JobID, release.JobIDPrefix); ok {
		req.CommitID = commit // a release's job: sward-<commit>
	}
	st, err := s.opts.Engine.Submit(req)
	if err != nil && st.DeploymentID == "" {
		// Not recorded by the engine (an invalid document): nothing changed.
		return false, s.finish(ctx, m, rejected(err))
	}
	log.Info("job submitted to the deployment engine", "group", doc.GroupName, "state", st.State)
	s.publishStatus(ctx, m.JobID, deploymentstatus.Message{Status: deploymentstatus.InProgress, Detail: st.State})
	return true, nil
}

// errTransient marks a download failure worth trying again (S3 or the
// credentials were not reachable), not a reason to reject the job.
var errTransient = errors.New("transient")

// decodeJobDocument reads a job document: a deployment document of a
// thing group.
func decodeJobDocument(data json.RawMessage) (*ddoc.Document, error) {
	if len(data) == 0 {
		return nil, errors.New("the job has no job document; create the job with the release's deployment document")
	}
	doc, err := ddoc.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("the job document is not a deployment document this device reads: %w", err)
	}
	if doc.Local() {
		return nil, fmt.Errorf("the job document's groupName is %s; a cloud deployment names the thing group it targets", ddoc.LocalGroup)
	}
	return doc, nil
}

// finish records o, reports it on the status topic and sends it to IoT
// Jobs.
func (s *Service) finish(ctx context.Context, m *mapping, o *outcome) error {
	m.Outcome = o
	if err := s.save(m); err != nil {
		return err
	}
	s.log.Info("job ended", "job", m.JobID, "deployment", m.DeploymentID, "status", o.Status, "detail", o.Detail, "reason", o.Reason)
	s.publishStatus(ctx, m.JobID, deploymentstatus.Message{Status: o.Status, Detail: o.Detail, Reason: o.Reason})
	return s.sendOutcome(ctx, m)
}

// sendOutcome sends m's outcome as the terminal update.
func (s *Service) sendOutcome(ctx context.Context, m *mapping) error {
	if m.Sent {
		return nil
	}
	state, err := s.update(ctx, m, m.Outcome.Status, m.Outcome.Details)
	if err != nil {
		return err
	}
	if state != string(m.Outcome.Status) {
		s.log.Warn("IoT Jobs keeps the execution in another terminal state than the device reported", "job", m.JobID,
			"reported", m.Outcome.Status, "cloud", state)
	}
	m.Sent = true
	return s.save(m)
}

// update sends status for m's execution with expectedVersion and returns
// the execution's status after it: status when accepted, the terminal
// state IoT Jobs keeps when it refused the update because the execution
// had ended.
func (s *Service) update(ctx context.Context, m *mapping, status deploymentstatus.Status, details map[string]string) (string, error) {
	for attempt := 0; ; attempt++ {
		req := map[string]any{"status": status, "executionNumber": m.ExecutionNumber, "includeJobExecutionState": true}
		if len(details) > 0 {
			req["statusDetails"] = details
		}
		if m.VersionNumber > 0 {
			req["expectedVersion"] = m.VersionNumber
		}
		r, err := s.request(ctx, s.topic(m.JobID, "update"), req, 1)
		if err != nil {
			return "", err
		}
		if r.accepted {
			var a struct {
				ExecutionState *executionState `json:"executionState"`
			}
			if json.Unmarshal(r.data, &a) == nil && a.ExecutionState != nil {
				m.VersionNumber = a.ExecutionState.VersionNumber
			}
			return string(status), nil
		}
		var rej rejection
		if err := json.Unmarshal(r.data, &rej); err != nil {
			return "", fmt.Errorf("update of job %s rejected: %s", m.JobID, r.data)
		}
		switch {
		case rej.ExecutionState != nil && terminalStatus(rej.ExecutionState.Status):
			return rej.ExecutionState.Status, nil
		case rej.Code == "TerminalStateReached":
			return "TERMINAL", nil
		case rej.Code == "ResourceNotFound":
			// The job or the thing's execution was deleted.
			return "REMOVED", nil
		case rej.Code == "VersionMismatch" && rej.ExecutionState != nil && attempt == 0:
			m.VersionNumber = rej.ExecutionState.VersionNumber
			continue
		}
		return "", fmt.Errorf("update of job %s to %s rejected: %s: %s", m.JobID, status, rej.Code, rej.Message)
	}
}

// publishStatus sends the deployment status message the deployment-events
// Lambda reads. It is a report beside the job's own status: a failure is
// logged.
func (s *Service) publishStatus(ctx context.Context, jobID string, msg deploymentstatus.Message) {
	msg.FormatVersion, msg.JobID, msg.Timestamp = deploymentstatus.FormatVersion, jobID, time.Now().UnixMilli()
	msg.Reason = truncate(msg.Reason)
	data, err := msg.Encode()
	if err == nil {
		err = s.opts.Link.Publish(ctx, iotcore.Message{Topic: topics.DeploymentStatus(s.opts.ThingName), Payload: data, QoS: 1})
	}
	if err != nil {
		s.log.Error("deployment status not sent", "job", jobID, "status", msg.Status, "error", err)
	}
}
