package release

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/lambdas/internal/releasestore"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/release"
)

// SupersededReasonCode is the reason code of a job canceled because a
// later release to its thing group replaced it.
const SupersededReasonCode = "SWARD_SUPERSEDED"

// maxPointerAttempts bounds the compare-and-swap of a group's current job.
// Each failed attempt means another release of the same group moved the
// pointer in between; more than a few releases of one group in the same
// second is already a mistake, and the invocation fails and is retried.
const maxPointerAttempts = 5

// supersede makes the release of jobID its group's current one and cancels
// the job it replaces (see doc.go, "Superseding"). It returns the replaced
// job ("" for none) and lambdakit.ErrInternal (logged) for a failed AWS
// call.
func (h *Handler) supersede(ctx context.Context, log *slog.Logger, m *release.Manifest, jobID string) (string, error) {
	group := m.ThingGroup
	mine, err := releasestore.Get(ctx, h.DB, h.Table, jobID)
	if err != nil || mine == nil {
		return "", lambdakit.Internal(ctx, log, "read release", orMissing(err, "no record"), "table", h.Table)
	}
	for attempt := 1; ; attempt++ {
		cur, err := h.currentJob(ctx, group)
		if err != nil {
			return "", lambdakit.Internal(ctx, log, "read the thing group's current release", err, "table", h.Table, "thingGroup", group)
		}
		current := cur.jobID
		if current == jobID {
			break // a repeated event: finish what the first one may not have
		}
		if cur.order > mine.Order && mine.Status == releasestore.InProgress && mine.SupersededBy == "" {
			// A release accepted after this one is current already (this
			// invocation is a late retry): this one is superseded by it.
			log.InfoContext(ctx, "a release accepted later is the thing group's current one; this one is superseded", "thingGroup", group, "current", current)
			return "", h.cancelSuperseded(ctx, log, jobID, cur.commit)
		}
		err = h.makeCurrent(ctx, group, m.CommitID, jobID, mine.Order, current)
		var canceled *dbtypes.TransactionCanceledException
		switch {
		case err == nil:
			log.InfoContext(ctx, "release is the thing group's current one", "thingGroup", group, "supersedes", current)
			return current, h.cancelSuperseded(ctx, log, current, m.CommitID)
		case errors.As(err, &canceled) && releasestore.FailedCondition(canceled, 1):
			// Superseded already, or no longer in progress (canceled by its
			// abort criteria): a repeated event for an older release must
			// not take the group back from a newer one.
			log.InfoContext(ctx, "release does not become the thing group's current one: it was superseded or stopped already", "thingGroup", group, "current", current)
		case errors.As(err, &canceled) && releasestore.FailedCondition(canceled, 0) && attempt < maxPointerAttempts:
			continue // another release of the group moved the pointer: read it again
		default:
			return "", lambdakit.Internal(ctx, log, "make the release the thing group's current one", err, "table", h.Table, "thingGroup", group)
		}
		break
	}
	// The pointer was moved by an earlier invocation for this release,
	// which may have failed before canceling what it replaced (read again:
	// the transaction may have just recorded it).
	rec, err := releasestore.Get(ctx, h.DB, h.Table, jobID)
	if err != nil {
		return "", lambdakit.Internal(ctx, log, "read release", err, "table", h.Table)
	}
	if rec == nil || rec.Supersedes == "" {
		return "", nil
	}
	return rec.Supersedes, h.cancelSuperseded(ctx, log, rec.Supersedes, m.CommitID)
}

// current is a group's current release as its group item names it.
type current struct {
	jobID, commit string
	order         int64
}

// currentJob reads group's current release (a zero current for none).
func (h *Handler) currentJob(ctx context.Context, group string) (current, error) {
	out, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.Table),
		Key:            releasestore.Key(releasestore.GroupItemID(group)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return current{}, err
	}
	c := current{jobID: releasestore.S(out.Item, releasestore.AttrCurrentJobID), commit: releasestore.S(out.Item, releasestore.AttrCurrentCommit)}
	c.order, err = releasestore.N(out.Item, releasestore.AttrCurrentOrder)
	return c, err
}

// claimOrder hands out the next number of group's order of acceptance.
// recordAccepted stores it on a release when it first records it
// IN_PROGRESS; a number claimed by a repeated event is skipped.
func (h *Handler) claimOrder(ctx context.Context, group string) (int64, error) {
	out, err := h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Table),
		Key:                       releasestore.Key(releasestore.GroupItemID(group)),
		UpdateExpression:          aws.String("SET #group = :group ADD #order :one"),
		ExpressionAttributeNames:  map[string]string{"#group": releasestore.AttrThingGroup, "#order": releasestore.AttrOrder},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":group": str(group), ":one": &dbtypes.AttributeValueMemberN{Value: "1"}},
		ReturnValues:              dbtypes.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, err
	}
	n, err := releasestore.N(out.Attributes, releasestore.AttrOrder)
	if err == nil && n == 0 {
		err = errors.New("UpdateItem returned no " + releasestore.AttrOrder)
	}
	return n, err
}

// makeCurrent moves group's pointer from previous ("" for none) to jobID in
// one transaction: item 0 the group item, on the condition that it still
// names previous; item 1 the release, on the condition that it is in
// progress and was never superseded, recording what it supersedes; item 2
// the previous release, marked as superseded by jobID, which keeps it from
// ever becoming current again.
func (h *Handler) makeCurrent(ctx context.Context, group, commit, jobID string, order int64, previous string) error {
	now := str(h.now())
	pointer := &dbtypes.Update{
		TableName:           aws.String(h.Table),
		Key:                 releasestore.Key(releasestore.GroupItemID(group)),
		UpdateExpression:    aws.String("SET #current = :job, #corder = :order, #ccommit = :commit, #group = :group, #updated = :now"),
		ConditionExpression: aws.String("attribute_not_exists(#current)"),
		ExpressionAttributeNames: map[string]string{"#current": releasestore.AttrCurrentJobID, "#corder": releasestore.AttrCurrentOrder,
			"#ccommit": releasestore.AttrCurrentCommit, "#group": releasestore.AttrThingGroup, "#updated": releasestore.AttrUpdatedAt},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":job": str(jobID), ":order": &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(order, 10)},
			":commit": str(commit), ":group": str(group), ":now": now},
	}
	mine := &dbtypes.Update{
		TableName:                 aws.String(h.Table),
		Key:                       releasestore.Key(jobID),
		UpdateExpression:          aws.String("SET #updated = :now"),
		ConditionExpression:       aws.String("#status = :progress AND attribute_not_exists(#by)"),
		ExpressionAttributeNames:  map[string]string{"#status": releasestore.AttrStatus, "#by": releasestore.AttrSupersededBy, "#updated": releasestore.AttrUpdatedAt},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":progress": str(string(releasestore.InProgress)), ":now": now},
	}
	items := []dbtypes.TransactWriteItem{{Update: pointer}, {Update: mine}}
	if previous != "" {
		pointer.ConditionExpression = aws.String("#current = :previous")
		pointer.ExpressionAttributeValues[":previous"] = str(previous)
		mine.UpdateExpression = aws.String("SET #updated = :now, #supersedes = :previous")
		mine.ExpressionAttributeNames["#supersedes"] = releasestore.AttrSupersedes
		mine.ExpressionAttributeValues[":previous"] = str(previous)
		items = append(items, dbtypes.TransactWriteItem{Update: &dbtypes.Update{
			TableName:                 aws.String(h.Table),
			Key:                       releasestore.Key(previous),
			UpdateExpression:          aws.String("SET #by = :job"),
			ExpressionAttributeNames:  map[string]string{"#by": releasestore.AttrSupersededBy},
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":job": str(jobID)},
		}})
	}
	_, err := h.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// cancelSuperseded cancels the superseded job, without force (devices
// deploying it finish and report; queued executions are canceled), and
// records its release as SUPERSEDED unless it has ended otherwise. Both
// steps are safe to repeat.
func (h *Handler) cancelSuperseded(ctx context.Context, log *slog.Logger, jobID, commit string) error {
	if jobID == "" {
		return nil
	}
	reason := "superseded by release " + commit
	log = log.With("superseded", jobID)
	_, err := h.IoT.CancelJob(ctx, &iot.CancelJobInput{
		JobId:      aws.String(jobID),
		ReasonCode: aws.String(SupersededReasonCode),
		Comment:    aws.String(reason),
	})
	var invalid *iottypes.InvalidRequestException
	var notFound *iottypes.ResourceNotFoundException
	switch {
	case errors.As(err, &invalid), errors.As(err, &notFound):
		log.InfoContext(ctx, "the superseded job has ended or is gone; nothing to cancel", "err", err)
	case err != nil:
		return lambdakit.Internal(ctx, log, "cancel the superseded job", err)
	}
	_, err = h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Table),
		Key:                       releasestore.Key(jobID),
		UpdateExpression:          aws.String("SET #status = :superseded, #reason = :reason, #updated = :now"),
		ConditionExpression:       aws.String("#status = :progress"),
		ExpressionAttributeNames:  map[string]string{"#status": releasestore.AttrStatus, "#reason": releasestore.AttrReason, "#updated": releasestore.AttrUpdatedAt},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":superseded": str(string(releasestore.Superseded)), ":progress": str(string(releasestore.InProgress)), ":reason": str(reason), ":now": str(h.now())},
	})
	var conflict *dbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &conflict):
		return nil // recorded already, or it ended otherwise (CANCELED keeps its reason)
	case err != nil:
		return lambdakit.Internal(ctx, log, "record the superseded release", err, "table", h.Table)
	}
	log.InfoContext(ctx, "superseded release canceled", "reason", reason)
	return nil
}
