// Package releasestore is the releases table as the release and
// deployment-events Lambdas share it: one item per release, keyed by its
// IoT job id, and one item per thing group naming the group's current
// release job.
//
//	jobId           S   partition key, release.JobID(commit)
//	commitId        S
//	thingGroup      S
//	bucket          S   the artifacts bucket the release came from
//	manifestKey     S   releases/<commit>/release.json
//	status          S   IN_PROGRESS | REJECTED | CANCELED | SUPERSEDED
//	reason          S   why it is REJECTED, CANCELED or SUPERSEDED
//	abortCriteria   S   the manifest's abort criteria as JSON ("[]" for none)
//	jobArn          S   once the job exists
//	updatedAt       S   RFC 3339
//	supersedes      S   the job this release replaced as its group's current
//	                    job (set when it became current)
//	supersededBy    S   the job that replaced it (set when that one became
//	                    current; a release with it never becomes current again)
//	acceptedOrder   N   its place in the group's order of acceptance, from
//	                    the group item's counter when first recorded IN_PROGRESS
//	devices_<STATUS> N  how many devices are now in each deployment status
//	                    (IN_PROGRESS, SUCCEEDED, FAILED, REJECTED)
//
// The group item (GroupItemID; no IoT job id contains '#'):
//
//	jobId           S   partition key, "group#<thing group>"
//	thingGroup      S
//	currentJobId    S   the job of the group's current release
//	currentOrder    N   its acceptedOrder
//	currentCommit   S   its commit
//	acceptedOrder   N   the last order number handed out (ADD, so a number
//	                    claimed by an invocation that then finds its release
//	                    accepted already is skipped: gaps are harmless)
//	updatedAt       S   RFC 3339
//
// The release Lambda writes everything but the counts; the deployment-events
// Lambda keeps the counts and sets CANCELED when it stops a rollout;
// `sward release status` reads it. The names live in shared/release so the
// CLI, which may not import lambdas/, reads the same ones.
package releasestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sward-iot/sward/shared/deploymentstatus"
	"github.com/sward-iot/sward/shared/release"
)

// Attribute names (shared/release, which `sward release status` reads the
// table with).
const (
	AttrJobID        = release.AttrJobID
	AttrCommitID     = release.AttrCommitID
	AttrThingGroup   = release.AttrThingGroup
	AttrBucket       = release.AttrBucket
	AttrManifestKey  = release.AttrManifestKey
	AttrStatus       = release.AttrStatus
	AttrReason       = release.AttrReason
	AttrAbort        = release.AttrAbort
	AttrJobArn       = release.AttrJobArn
	AttrUpdatedAt    = release.AttrUpdatedAt
	AttrSupersedes   = release.AttrSupersedes
	AttrSupersededBy = release.AttrSupersededBy
	// AttrCurrentJobID is the group item's current job.
	AttrCurrentJobID = "currentJobId"
	// AttrCurrentOrder and AttrCurrentCommit are the current release's
	// order and commit.
	AttrCurrentOrder  = "currentOrder"
	AttrCurrentCommit = "currentCommit"
	// AttrOrder is the order in which releases were accepted: on the
	// group item the last number handed out, on a release its own.
	AttrOrder = "acceptedOrder"
)

// GroupItemID is the key of the item naming thing group's current job.
func GroupItemID(group string) string { return "group#" + group }

// Status is a release's status.
type Status = release.Status

// The release statuses.
const (
	InProgress = release.InProgress
	Rejected   = release.Rejected
	Canceled   = release.Canceled
	Superseded = release.Superseded
)

// MaxReasonLength bounds a stored reason: the whole problem list of a bad
// manifest (at most 50 problems) fits, and an item stays far below
// DynamoDB's 400 KB.
const MaxReasonLength = 16 << 10

// CountAttr is the attribute counting devices in status s.
func CountAttr(s deploymentstatus.Status) string { return release.CountAttr(s) }

// Record is a release item as read back.
type Record struct {
	JobID      string
	CommitID   string
	ThingGroup string
	Status     Status
	Reason     string
	// Supersedes and SupersededBy are the jobs this release replaced and
	// was replaced by as its group's current job ("" for none).
	Supersedes, SupersededBy string
	// Order is the release's place in its group's order of acceptance
	// (0 for a release recorded before orders existed).
	Order  int64
	Abort  []release.AbortCriterion
	Counts map[deploymentstatus.Status]int64
}

// Getter reads items.
type Getter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Get reads the release of jobID with a consistent read; nil when there is
// none.
func Get(ctx context.Context, db Getter, table, jobID string) (*Record, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            Key(jobID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	r := &Record{
		JobID:        S(out.Item, AttrJobID),
		CommitID:     S(out.Item, AttrCommitID),
		ThingGroup:   S(out.Item, AttrThingGroup),
		Status:       Status(S(out.Item, AttrStatus)),
		Reason:       S(out.Item, AttrReason),
		Supersedes:   S(out.Item, AttrSupersedes),
		SupersededBy: S(out.Item, AttrSupersededBy),
		Counts:       map[deploymentstatus.Status]int64{},
	}
	if a := S(out.Item, AttrAbort); a != "" {
		if err := json.Unmarshal([]byte(a), &r.Abort); err != nil {
			return nil, fmt.Errorf("release %s: attribute %s: %w", jobID, AttrAbort, err)
		}
	}
	if r.Order, err = N(out.Item, AttrOrder); err != nil {
		return nil, fmt.Errorf("release %s: %w", jobID, err)
	}
	for _, s := range deploymentstatus.Statuses {
		if n, ok := out.Item[CountAttr(s)].(*types.AttributeValueMemberN); ok {
			v, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("release %s: attribute %s: %w", jobID, CountAttr(s), err)
			}
			r.Counts[s] = v
		}
	}
	return r, nil
}

// Key is the item key of jobID.
func Key(jobID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrJobID: &types.AttributeValueMemberS{Value: jobID}}
}

// S returns a string attribute, "" when missing.
func S(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// N returns a number attribute, 0 when missing.
func N(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return v, nil
}

// FailedCondition reports whether item i of a canceled transaction failed
// its condition.
func FailedCondition(e *types.TransactionCanceledException, i int) bool {
	return i < len(e.CancellationReasons) && aws.ToString(e.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// Truncate bounds a reason to MaxReasonLength bytes.
func Truncate(reason string) string {
	if len(reason) <= MaxReasonLength {
		return reason
	}
	cut := MaxReasonLength
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut-- // DynamoDB strings must stay valid UTF-8
	}
	return reason[:cut] + "…"
}
