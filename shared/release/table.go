package release

import "github.com/sward-iot/sward/shared/deploymentstatus"

// The releases table (the stack's ReleasesTableName output): one item per
// release, keyed by its job id. The release and deployment-events Lambdas
// write it (lambdas/internal/releasestore describes the item);
// `sward release status` reads it.
const (
	AttrJobID       = "jobId"
	AttrCommitID    = "commitId"
	AttrThingGroup  = "thingGroup"
	AttrBucket      = "bucket"
	AttrManifestKey = "manifestKey"
	AttrStatus      = "status"
	AttrReason      = "reason"
	AttrAbort       = "abortCriteria"
	AttrJobArn      = "jobArn"
	AttrUpdatedAt   = "updatedAt"
	// AttrSupersedes names the job a release replaced as its thing
	// group's current job; AttrSupersededBy the job that replaced it.
	AttrSupersedes   = "supersedes"
	AttrSupersededBy = "supersededBy"
)

// Status is a release's status in the releases table.
type Status string

// The release statuses.
const (
	// InProgress: the release was accepted and its job created (or is
	// being created).
	InProgress Status = "IN_PROGRESS"
	// Rejected: the release is invalid and has no job; reason says why.
	Rejected Status = "REJECTED"
	// Canceled: the deployment-events Lambda stopped the rollout.
	Canceled Status = "CANCELED"
	// Superseded: a later release to the same thing group replaced it;
	// the release Lambda canceled its job (not forced: devices already
	// deploying it finish and report, queued ones never start it). reason
	// says "superseded by release <commit>".
	Superseded Status = "SUPERSEDED"
)

// CountAttr is the releases table attribute counting the release's devices
// in deployment status s.
func CountAttr(s deploymentstatus.Status) string { return "devices_" + string(s) }
