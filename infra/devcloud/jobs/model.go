package jobs

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// Status is a job execution's status.
//
//	           start-next / update IN_PROGRESS          update SUCCEEDED|FAILED|REJECTED
//	QUEUED ─────────────────────────────────▶ IN_PROGRESS ───────────────────────────▶ terminal
//	  │  │ update SUCCEEDED|FAILED|REJECTED      │   ▲ │ update IN_PROGRESS (repeatable)
//	  │  └───────────────────────────────▶ terminal │   └─┘
//	  │ CancelJob, CancelJobExecution, abort       │ step or in-progress timer ─▶ TIMED_OUT
//	  ├──────────────────────────────────▶ CANCELED ◀── CancelJob/CancelJobExecution with force
//	  └─ thing left a CONTINUOUS job's group ─▶ REMOVED
//
// The device sets IN_PROGRESS, SUCCEEDED, FAILED and REJECTED; the service
// sets QUEUED, TIMED_OUT, REMOVED and CANCELED. Terminal executions are
// frozen: every update of one is an InvalidStateTransition.
type Status string

// The execution statuses.
const (
	Queued     Status = "QUEUED"      // created by the service, waiting for the device
	InProgress Status = "IN_PROGRESS" // the device started it (repeatable, with new statusDetails)
	Succeeded  Status = "SUCCEEDED"   // the device finished it
	Failed     Status = "FAILED"      // the device gave up on it
	Rejected   Status = "REJECTED"    // the device refused it
	TimedOut   Status = "TIMED_OUT"   // a step or in-progress timer ran out
	Removed    Status = "REMOVED"     // the thing is no longer a target
	Canceled   Status = "CANCELED"    // the job or the execution was canceled
)

// Terminal reports whether s is a final status.
func (s Status) Terminal() bool {
	switch s {
	case Queued, InProgress:
		return false
	}
	return true
}

// deviceSettable reports whether a device may set s in an update.
func (s Status) deviceSettable() bool {
	switch s {
	case InProgress, Succeeded, Failed, Rejected:
		return true
	}
	return false
}

func (s Status) valid() bool {
	switch s {
	case Queued, InProgress, Succeeded, Failed, Rejected, TimedOut, Removed, Canceled:
		return true
	}
	return false
}

// JobStatus is a job's status: IN_PROGRESS from creation; COMPLETED when
// every execution of a SNAPSHOT job is terminal (a CONTINUOUS job never
// completes); CANCELED by CancelJob or the abort criteria.
type JobStatus string

// The job statuses devcloud uses (DeleteJob removes a job at once, so
// DELETION_IN_PROGRESS is never seen).
const (
	JobInProgress JobStatus = "IN_PROGRESS"
	JobCompleted  JobStatus = "COMPLETED"
	JobCanceled   JobStatus = "CANCELED"
)

// Target selections.
const (
	Snapshot   = "SNAPSHOT"
	Continuous = "CONTINUOUS"
)

// Limits of IoT Jobs (the AWS IoT API reference).
const (
	MaxDocumentChars      = 32768 // CreateJob document
	MaxStatusDetailKey    = 128
	MaxStatusDetailValue  = 1024
	MaxTimeoutMinutes     = 10080 // 7 days: step timer and in-progress timer
	MaxNotifyListEntries  = 10    // executions per status in a notify message (reference: ≤ 10)
	MaxCancelDetailsPairs = 10    // CancelJobExecution statusDetails
)

var (
	jobIDPattern      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	thingNamePattern  = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	namespacePattern  = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	detailsKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	failureTypes      = map[string]bool{"FAILED": true, "REJECTED": true, "TIMED_OUT": true, "ALL": true}
)

// Job is a job as stored in DIR/jobs/<jobId>/job.json.
type Job struct {
	JobID           string    `json:"jobId"`
	JobArn          string    `json:"jobArn"`
	Targets         []string  `json:"targets"`
	TargetSelection string    `json:"targetSelection"`
	Document        string    `json:"document"`
	DocumentSource  string    `json:"documentSource,omitempty"`
	Description     string    `json:"description,omitempty"`
	NamespaceID     string    `json:"namespaceId,omitempty"`
	Status          JobStatus `json:"status"`
	ForceCanceled   bool      `json:"forceCanceled,omitempty"`
	ReasonCode      string    `json:"reasonCode,omitempty"`
	Comment         string    `json:"comment,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	LastUpdatedAt   time.Time `json:"lastUpdatedAt"`
	CompletedAt     time.Time `json:"completedAt,omitzero"`

	AbortConfig   *AbortConfig   `json:"abortConfig,omitempty"`
	TimeoutConfig *TimeoutConfig `json:"timeoutConfig,omitempty"`
	// Kept and echoed by DescribeJob; devcloud queues every execution at
	// once, retries nothing and does not presign document URLs.
	RolloutConfig      json.RawMessage `json:"jobExecutionsRolloutConfig,omitempty"`
	RetryConfig        json.RawMessage `json:"jobExecutionsRetryConfig,omitempty"`
	PresignedURLConfig json.RawMessage `json:"presignedUrlConfig,omitempty"`
}

// AbortConfig is CreateJob's abortConfig.
type AbortConfig struct {
	CriteriaList []AbortCriteria `json:"criteriaList"`
}

// AbortCriteria cancels the job when, of at least MinNumberOfExecutedThings
// finished executions, ThresholdPercentage or more ended in FailureType.
type AbortCriteria struct {
	FailureType               string  `json:"failureType"`
	Action                    string  `json:"action"`
	ThresholdPercentage       float64 `json:"thresholdPercentage"`
	MinNumberOfExecutedThings int     `json:"minNumberOfExecutedThings"`
}

// TimeoutConfig is CreateJob's timeoutConfig.
type TimeoutConfig struct {
	InProgressTimeoutInMinutes int64 `json:"inProgressTimeoutInMinutes,omitempty"`
}

// Execution is a job execution as stored in
// DIR/jobs/<jobId>/executions/<thing>.json.
type Execution struct {
	JobID           string            `json:"jobId"`
	ThingName       string            `json:"thingName"`
	NamespaceID     string            `json:"namespaceId,omitempty"`
	Status          Status            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	QueuedAt        time.Time         `json:"queuedAt"`
	StartedAt       time.Time         `json:"startedAt,omitzero"`
	LastUpdatedAt   time.Time         `json:"lastUpdatedAt"`
	VersionNumber   int64             `json:"versionNumber"`
	ExecutionNumber int64             `json:"executionNumber"`
	ForceCanceled   bool              `json:"forceCanceled,omitempty"`
	// Seq orders executions by creation across jobs ($next, notify).
	Seq int64 `json:"seq"`
	// StepDeadline and InProgressDeadline end an IN_PROGRESS execution
	// as TIMED_OUT; zero when not set.
	StepDeadline       time.Time `json:"stepDeadline,omitzero"`
	InProgressDeadline time.Time `json:"inProgressDeadline,omitzero"`
}

// deadline is the earlier of the execution's timers, zero when none.
func (e *Execution) deadline() time.Time {
	switch {
	case e.StepDeadline.IsZero():
		return e.InProgressDeadline
	case e.InProgressDeadline.IsZero() || e.StepDeadline.Before(e.InProgressDeadline):
		return e.StepDeadline
	}
	return e.InProgressDeadline
}

// checkStatusDetails applies IoT Jobs' rules for statusDetails.
func checkStatusDetails(d map[string]string) error {
	for k, v := range d {
		if !detailsKeyPattern.MatchString(k) {
			return fmt.Errorf("statusDetails key %q: want 1–%d of [a-zA-Z0-9:_-]", k, MaxStatusDetailKey)
		}
		if n := utf8.RuneCountInString(v); n < 1 || n > MaxStatusDetailValue {
			return fmt.Errorf("statusDetails value of %q has %d characters: want 1–%d", k, n, MaxStatusDetailValue)
		}
	}
	return nil
}

// checkStepTimeout applies stepTimeoutInMinutes' range: 1–10080, or -1
// (update only) to cancel the current step timer.
func checkStepTimeout(m *int64, allowCancel bool) error {
	if m == nil {
		return nil
	}
	if *m == -1 && allowCancel {
		return nil
	}
	if *m < 1 || *m > MaxTimeoutMinutes {
		return fmt.Errorf("stepTimeoutInMinutes %d: want 1–%d", *m, MaxTimeoutMinutes)
	}
	return nil
}

// abortReason returns why the job's abort criteria are met, or "".
func abortReason(cfg *AbortConfig, execs []*Execution) string {
	if cfg == nil {
		return ""
	}
	counts := map[Status]int{}
	for _, e := range execs {
		counts[e.Status]++
	}
	executed := counts[Succeeded] + counts[Failed] + counts[Rejected] + counts[TimedOut]
	for _, c := range cfg.CriteriaList {
		var failures int
		switch c.FailureType {
		case "ALL":
			failures = counts[Failed] + counts[Rejected] + counts[TimedOut]
		default:
			failures = counts[Status(c.FailureType)]
		}
		if executed == 0 || executed < c.MinNumberOfExecutedThings {
			continue
		}
		if float64(failures)*100 >= c.ThresholdPercentage*float64(executed) {
			return fmt.Sprintf("abort criteria met: %d of %d executed things %s (threshold %v%%, at least %d things)",
				failures, executed, c.FailureType, c.ThresholdPercentage, c.MinNumberOfExecutedThings)
		}
	}
	return ""
}
