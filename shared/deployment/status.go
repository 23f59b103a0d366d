package deployment

import "time"

// State is where a deployment is. The engine records it and the CLI and the
// cloud read it.
//
//	QUEUED ──► IN_PROGRESS ──► SUCCEEDED
//	  │            ├──► ROLLED_BACK   failed; the previous state is restored
//	  │            ├──► FAILED        failed; not rolled back (DO_NOTHING,
//	  │            │                  or the rollback failed too)
//	  │            └──► CANCELED      canceled before it changed anything
//	  ├──► CANCELED      canceled before it started (by the user or the cloud)
//	  ├──► FAILED        refused before it started (invalid document, missing
//	  │                  recipe or artifact)
//	  └──► SUPERSEDED    a newer whole-group deployment to the same group
//	                     replaced it before it started
//
// Every state but QUEUED and IN_PROGRESS is terminal. A LOCAL deployment is
// a change (a delta), so it is never superseded: LOCAL deployments queued
// together are applied together by one run (Carries, CarriedBy), and each
// ends in that run's state. Greengrass reports
// ROLLED_BACK as FAILED with detail FAILED_ROLLBACK_COMPLETE; Sward names it
// so `sward deployment status` says what the device now runs.
type State string

// The deployment states.
const (
	Queued     State = "QUEUED"
	InProgress State = "IN_PROGRESS"
	Succeeded  State = "SUCCEEDED"
	Failed     State = "FAILED"
	RolledBack State = "ROLLED_BACK"
	Canceled   State = "CANCELED"
	Superseded State = "SUPERSEDED"
)

// States lists every State in lifecycle order.
var States = []State{Queued, InProgress, Succeeded, Failed, RolledBack, Canceled, Superseded}

// Terminal reports whether s is final: the deployment will not change again.
func (s State) Terminal() bool {
	switch s {
	case Succeeded, Failed, RolledBack, Canceled, Superseded:
		return true
	}
	return false
}

// Status is the record of one deployment.
type Status struct {
	DeploymentID string `json:"deploymentId"`
	Group        string `json:"groupName"`
	State        State  `json:"state"`
	// Reason says why the deployment is in State, for people
	// ("component com.example.A is BROKEN: run exited 1").
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// Components is the outcome for each component the deployment touched,
	// sorted by name.
	Components []ComponentOutcome `json:"components,omitempty"`
	// CommitID is the git commit a git deployment, or a cloud release,
	// came from.
	CommitID string `json:"commitId,omitempty"`
	// JobID is the IoT job a cloud deployment came from (its deployment id
	// too, but for a later execution of the same job).
	JobID string `json:"jobId,omitempty"`
	// Carries lists the LOCAL deployments queued behind this one whose
	// changes this one applied together with its own, in queue order; each
	// of them ends in this deployment's state.
	Carries []string `json:"carries,omitempty"`
	// CarriedBy is the deployment that applied this one's changes together
	// with its own; its outcome is this one's.
	CarriedBy string `json:"carriedBy,omitempty"`
	// Warnings are things the deployment did as asked but a person should
	// know about, one line each, naming the component and the fix (such as
	// a recipe whose DefaultConfiguration changed under the same version).
	Warnings []string `json:"warnings,omitempty"`
	// Progress is how far the deployment's artifact downloads are; nil
	// when it downloads nothing. It stays after the deployment ends.
	Progress *Progress `json:"progress,omitempty"`
}

// Progress is how far a deployment's artifact downloads are: bytes on
// the device (resumed downloads count what an earlier attempt left) of
// the bytes to download, per artifact and in all.
type Progress struct {
	Bytes      int64              `json:"bytes"`
	TotalBytes int64              `json:"totalBytes"`
	Artifacts  []ArtifactProgress `json:"artifacts"`
}

// ArtifactProgress is one artifact's download.
type ArtifactProgress struct {
	Component  string `json:"component"`
	Version    string `json:"version"`
	URI        string `json:"uri"`
	Bytes      int64  `json:"bytes"`
	TotalBytes int64  `json:"totalBytes"`
}

// ComponentOutcome is what a deployment did to one component.
type ComponentOutcome struct {
	Name string `json:"name"`
	// Version is the version after the deployment, empty when it removed
	// the component.
	Version string `json:"version,omitempty"`
	// PreviousVersion is the version before, empty when the deployment
	// added the component.
	PreviousVersion string `json:"previousVersion,omitempty"`
	// State is the component's lifecycle state when the deployment ended,
	// in Greengrass names (RUNNING, FINISHED, BROKEN, ...; edge/lifecycle
	// owns them).
	State string `json:"state"`
	// Reason is the last state change's reason.
	Reason string `json:"reason,omitempty"`
}
