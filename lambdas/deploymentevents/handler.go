package deploymentevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/lambdas/internal/releasestore"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/deploymentstatus"
)

// Store is the part of the DynamoDB client the handler uses.
type Store interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// JobCanceler is the part of the IoT control plane client the handler uses.
type JobCanceler interface {
	CancelJob(ctx context.Context, in *iot.CancelJobInput, opts ...func(*iot.Options)) (*iot.CancelJobOutput, error)
}

// CancelReasonCode is the reasonCode of the jobs this Lambda cancels.
const CancelReasonCode = "SWARD_FAILURE_THRESHOLD"

// maxAttempts bounds the read-transact loop of one message. A conflict
// needs two messages of the same device for the same job at the same
// moment; a handful in a row means something is wrong, and failing lets
// Lambda retry the event later.
const maxAttempts = 5

// Handler handles deployment status rule events.
type Handler struct {
	DB  Store
	IoT JobCanceler
	// ReleasesTable is SWARD_RELEASES_TABLE; StatusTable is
	// SWARD_DEVICE_STATUS_TABLE.
	ReleasesTable, StatusTable string
	// HistoryRetention is how long a history row is kept
	// (SWARD_HISTORY_RETENTION_DAYS): each one gets an expiresAt attribute
	// that long after it was received, the table's TTL attribute. Zero
	// keeps history forever. Current-status and fleet rows never expire.
	HistoryRetention time.Duration
	Log              *slog.Logger
}

// Result says what one invocation did.
type Result struct {
	// Outcome is RECORDED (history and current status), STALE (history
	// only), DUPLICATE (nothing) or MALFORMED (nothing; logged).
	Outcome string `json:"outcome"`
	// Canceled is set when this invocation stopped the rollout.
	Canceled bool `json:"canceled,omitempty"`
}

// The outcomes.
const (
	Recorded  = "RECORDED"
	Stale     = "STALE"
	Duplicate = "DUPLICATE"
	Malformed = "MALFORMED"
)

// Status table attributes.
const (
	attrThing      = "thingName"
	attrSortKey    = "sortKey"
	attrJobID      = "jobId"
	attrStatus     = "status"
	attrDetail     = "detail"
	attrReason     = "reason"
	attrTimestamp  = "timestamp"
	attrReceivedAt = "receivedAt"
	// AttrExpiresAt is the status table's TTL attribute (epoch seconds),
	// set on history rows only; infra names it as the table's
	// TimeToLiveSpecification.
	AttrExpiresAt = "expiresAt"
)

// HistoryKey is the sort key of one status message in a thing's history.
func HistoryKey(jobID string, timestamp int64, s deploymentstatus.Status) string {
	return fmt.Sprintf("history#%s#%013d#%s", jobID, timestamp, s)
}

// CurrentKey is the sort key of a thing's current status for a job.
func CurrentKey(jobID string) string { return "job#" + jobID }

// Handle processes one deployment status rule event, or one fleet status
// rule event (one with a trigger; see handleFleetStatus). It returns
// lambdakit.ErrInternal for failures a retry may fix and lambdakit.ErrRefused
// for an empty or non-JSON event; a bad message is logged (MALFORMED) and
// returns no error, since a retry cannot fix it.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (Result, error) {
	// The rules always send a JSON object (IoT fails the rule, to its error
	// action, for a device payload SELECT * cannot merge): an empty or
	// non-JSON event is the wiring's fault, refused with an error so that
	// it reaches the failure queue and its alarm.
	if err := lambdakit.CheckEvent(event); err != nil {
		return Result{Outcome: Malformed}, lambdakit.Refused(ctx, h.Log, "deployment status refused", err)
	}
	if isFleetStatus(event) {
		return h.handleFleetStatus(ctx, event)
	}
	ev, err := deploymentstatus.DecodeEvent(event)
	if err != nil {
		h.Log.WarnContext(ctx, "deployment status refused", "reason", err.Error())
		return Result{Outcome: Malformed}, nil
	}
	log := h.Log.With("thing", ev.Thing, "jobId", ev.JobID, "status", ev.Status)
	res := Result{}
	res.Outcome, err = h.record(ctx, log, ev)
	if err != nil {
		return res, err
	}
	log.InfoContext(ctx, "deployment status", "outcome", res.Outcome, "detail", ev.Detail, "timestamp", ev.Timestamp)
	res.Canceled, err = h.checkAbort(ctx, log, ev.JobID)
	return res, err
}

// current is a device's current status for a job.
type current struct {
	status    deploymentstatus.Status
	timestamp int64
}

// supersedes reports whether ev moves the device on from c.
func supersedes(ev *deploymentstatus.Event, c *current) bool {
	switch {
	case c == nil:
		return true
	case c.status.Terminal():
		return false
	case ev.Timestamp != c.timestamp:
		return ev.Timestamp > c.timestamp
	}
	return ev.Status.Terminal()
}

func (h *Handler) record(ctx context.Context, log *slog.Logger, ev *deploymentstatus.Event) (string, error) {
	withRelease := true
	for range maxAttempts {
		cur, err := h.current(ctx, ev)
		if err != nil {
			return "", lambdakit.Internal(ctx, log, "read device status", err, "table", h.StatusTable)
		}
		if !supersedes(ev, cur) {
			_, err := h.DB.PutItem(ctx, h.historyPut(ev).toPut())
			var dup *types.ConditionalCheckFailedException
			switch {
			case errors.As(err, &dup):
				return Duplicate, nil
			case err != nil:
				return "", lambdakit.Internal(ctx, log, "record device status", err, "table", h.StatusTable)
			}
			return Stale, nil
		}
		items := []types.TransactWriteItem{{Put: h.historyPut(ev).put()}, {Update: h.currentUpdate(ev, cur)}}
		counted := withRelease && (cur == nil || cur.status != ev.Status)
		if counted {
			items = append(items, types.TransactWriteItem{Update: h.countUpdate(ev, cur)})
		}
		_, err = h.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			if err != nil {
				return "", lambdakit.Internal(ctx, log, "record device status", err, "table", h.StatusTable)
			}
			return Recorded, nil
		}
		switch {
		case releasestore.FailedCondition(canceled, 0):
			return Duplicate, nil
		case releasestore.FailedCondition(canceled, 1):
			continue // the device's current status changed meanwhile: read again
		case counted && releasestore.FailedCondition(canceled, 2):
			log.WarnContext(ctx, "status for a job that is not a Sward release; recording the device's status without release counts")
			withRelease = false
			continue
		}
		return "", lambdakit.Internal(ctx, log, "record device status", err, "table", h.StatusTable)
	}
	return "", lambdakit.Internal(ctx, log, "record device status", fmt.Errorf("%d conflicting updates in a row", maxAttempts), "table", h.StatusTable)
}

func (h *Handler) current(ctx context.Context, ev *deploymentstatus.Event) (*current, error) {
	out, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.StatusTable),
		Key:            statusKey(ev.Thing, CurrentKey(ev.JobID)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || len(out.Item) == 0 {
		return nil, err
	}
	c := &current{status: deploymentstatus.Status(releasestore.S(out.Item, attrStatus))}
	n, ok := out.Item[attrTimestamp].(*types.AttributeValueMemberN)
	if !ok {
		return nil, fmt.Errorf("current status of %s for %s has no numeric %s", ev.Thing, ev.JobID, attrTimestamp)
	}
	if c.timestamp, err = strconv.ParseInt(n.Value, 10, 64); err != nil {
		return nil, fmt.Errorf("current status of %s for %s: %s: %w", ev.Thing, ev.JobID, attrTimestamp, err)
	}
	return c, nil
}

// conditionalPut is a Put that may be used alone or in a transaction.
type conditionalPut struct {
	table string
	item  map[string]types.AttributeValue
	cond  string
	names map[string]string
}

func (p conditionalPut) put() *types.Put {
	return &types.Put{TableName: aws.String(p.table), Item: p.item, ConditionExpression: aws.String(p.cond), ExpressionAttributeNames: p.names}
}

func (p conditionalPut) toPut() *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{TableName: aws.String(p.table), Item: p.item, ConditionExpression: aws.String(p.cond), ExpressionAttributeNames: p.names}
}

// historyPut adds the message to the thing's history unless it is there.
func (h *Handler) historyPut(ev *deploymentstatus.Event) conditionalPut {
	item := h.attrs(ev)
	item[attrThing] = str(ev.Thing)
	item[attrSortKey] = str(HistoryKey(ev.JobID, ev.Timestamp, ev.Status))
	if h.HistoryRetention > 0 {
		// From the cloud's receipt, not the device's clock.
		item[AttrExpiresAt] = num(time.UnixMilli(ev.ReceivedAt).Add(h.HistoryRetention).Unix())
	}
	return conditionalPut{table: h.StatusTable, item: item, cond: "attribute_not_exists(#sk)", names: map[string]string{"#sk": attrSortKey}}
}

func (h *Handler) attrs(ev *deploymentstatus.Event) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrJobID:      str(ev.JobID),
		attrStatus:     str(string(ev.Status)),
		attrTimestamp:  num(ev.Timestamp),
		attrReceivedAt: num(ev.ReceivedAt),
	}
	if ev.Detail != "" {
		item[attrDetail] = str(string(ev.Detail))
	}
	if ev.Reason != "" {
		item[attrReason] = str(ev.Reason)
	}
	return item
}

// currentUpdate replaces the device's current status, on the condition
// that it is still cur.
func (h *Handler) currentUpdate(ev *deploymentstatus.Event, cur *current) *types.Update {
	names := map[string]string{"#job": attrJobID, "#status": attrStatus, "#ts": attrTimestamp, "#rcv": attrReceivedAt, "#detail": attrDetail, "#reason": attrReason}
	values := map[string]types.AttributeValue{":job": str(ev.JobID), ":status": str(string(ev.Status)), ":ts": num(ev.Timestamp), ":rcv": num(ev.ReceivedAt)}
	set := "SET #job = :job, #status = :status, #ts = :ts, #rcv = :rcv"
	var remove string
	if ev.Detail != "" {
		set += ", #detail = :detail"
		values[":detail"] = str(string(ev.Detail))
	} else {
		remove = " REMOVE #detail"
	}
	if ev.Reason != "" {
		set += ", #reason = :reason"
		values[":reason"] = str(ev.Reason)
	} else if remove == "" {
		remove = " REMOVE #reason"
	} else {
		remove += ", #reason"
	}
	cond := "attribute_not_exists(#sk)"
	names["#sk"] = attrSortKey
	if cur != nil {
		delete(names, "#sk") // DynamoDB refuses names an expression does not use
		cond = "#status = :was AND #ts = :wasTs"
		values[":was"] = str(string(cur.status))
		values[":wasTs"] = num(cur.timestamp)
	}
	return &types.Update{
		TableName:                 aws.String(h.StatusTable),
		Key:                       statusKey(ev.Thing, CurrentKey(ev.JobID)),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// countUpdate moves the device from its previous status's count to the new
// one's, on the condition that the release exists.
func (h *Handler) countUpdate(ev *deploymentstatus.Event, cur *current) *types.Update {
	names := map[string]string{"#job": releasestore.AttrJobID, "#new": releasestore.CountAttr(ev.Status)}
	values := map[string]types.AttributeValue{":one": num(1)}
	expr := "ADD #new :one"
	if cur != nil {
		names["#old"] = releasestore.CountAttr(cur.status)
		values[":minusOne"] = num(-1)
		expr += ", #old :minusOne"
	}
	return &types.Update{
		TableName:                 aws.String(h.ReleasesTable),
		Key:                       releasestore.Key(ev.JobID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#job)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// checkAbort cancels the release's job when its abort criteria are met and
// it is still in progress. It reports whether it canceled.
func (h *Handler) checkAbort(ctx context.Context, log *slog.Logger, jobID string) (bool, error) {
	rec, err := releasestore.Get(ctx, h.DB, h.ReleasesTable, jobID)
	if err != nil {
		return false, lambdakit.Internal(ctx, log, "read release", err, "table", h.ReleasesTable)
	}
	if rec == nil || rec.Status != releasestore.InProgress {
		return false, nil
	}
	failed, rejected := rec.Counts[deploymentstatus.Failed], rec.Counts[deploymentstatus.Rejected]
	finished := failed + rejected + rec.Counts[deploymentstatus.Succeeded]
	for _, c := range rec.Abort {
		if !c.Exceeded(failed, rejected, finished) {
			continue
		}
		reason := fmt.Sprintf("%d of %d devices that finished failed (%d FAILED, %d REJECTED), meeting the release's abort criterion %s ≥ %v%% of at least %d devices",
			failed+rejected, finished, failed, rejected, c.FailureType, c.ThresholdPercentage, c.MinNumberOfExecutedThings)
		_, err := h.IoT.CancelJob(ctx, &iot.CancelJobInput{
			JobId:      aws.String(jobID),
			ReasonCode: aws.String(CancelReasonCode),
			Comment:    aws.String(truncate(reason, 2028)), // CancelJob's comment limit
		})
		var invalid *iottypes.InvalidRequestException
		var notFound *iottypes.ResourceNotFoundException
		switch {
		case errors.As(err, &invalid), errors.As(err, &notFound):
			log.WarnContext(ctx, "the job could not be canceled; it has ended or is gone", "err", err)
		case err != nil:
			return false, lambdakit.Internal(ctx, log, "cancel job", err)
		}
		if err := h.markCanceled(ctx, jobID, reason); err != nil {
			return false, lambdakit.Internal(ctx, log, "record canceled release", err, "table", h.ReleasesTable)
		}
		log.WarnContext(ctx, "rollout stopped", "reason", reason)
		return true, nil
	}
	return false, nil
}

func (h *Handler) markCanceled(ctx context.Context, jobID, reason string) error {
	_, err := h.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.ReleasesTable),
		Key:                 releasestore.Key(jobID),
		UpdateExpression:    aws.String("SET #status = :canceled, #reason = :reason, #updated = :now"),
		ConditionExpression: aws.String("#status = :progress"),
		ExpressionAttributeNames: map[string]string{
			"#status": releasestore.AttrStatus, "#reason": releasestore.AttrReason, "#updated": releasestore.AttrUpdatedAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":canceled": str(string(releasestore.Canceled)), ":progress": str(string(releasestore.InProgress)),
			":reason": str(releasestore.Truncate(reason)), ":now": str(time.Now().UTC().Format(time.RFC3339)),
		},
	})
	var conflict *types.ConditionalCheckFailedException
	if errors.As(err, &conflict) {
		return nil // another invocation recorded it first
	}
	return err
}

func statusKey(thing, sortKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrThing: str(thing), attrSortKey: str(sortKey)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
