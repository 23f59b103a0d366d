package deploymentevents

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/fleetstatus"
)

// FleetKey is the sort key of a thing's fleet status: its components as
// its last fleet status message listed them.
const FleetKey = "fleet"

// Fleet status item attributes.
const (
	attrTrigger    = "trigger"
	attrOverall    = "overallDeviceStatus"
	attrSequence   = "sequenceNumber"
	attrComponents = "components"
	attrName       = "componentName"
	attrVersion    = "version"
	attrState      = "state"
)

// isFleetStatus reports whether a rule event is a fleet status message
// (the fleet status rule's) rather than a deployment status one: only the
// former has a trigger.
func isFleetStatus(event json.RawMessage) bool {
	var probe struct {
		Trigger *json.RawMessage `json:"trigger"`
	}
	return json.Unmarshal(event, &probe) == nil && probe.Trigger != nil
}

// handleFleetStatus records a device's fleet status: the item
// (thing, "fleet") holds the newest message's components, overall status
// and trigger. An older message (by the device's timestamp) than the one
// recorded changes nothing (STALE), so a redelivered or reordered QoS 1
// message cannot turn the device's status back.
func (h *Handler) handleFleetStatus(ctx context.Context, event json.RawMessage) (Result, error) {
	ev, err := fleetstatus.DecodeEvent(event)
	if err != nil {
		h.Log.WarnContext(ctx, "fleet status refused", "reason", err.Error())
		return Result{Outcome: Malformed}, nil
	}
	log := h.Log.With("thing", ev.Thing, "trigger", string(ev.Trigger))
	components := make([]types.AttributeValue, len(ev.Components))
	for i, c := range ev.Components {
		m := map[string]types.AttributeValue{attrName: str(c.Name), attrVersion: str(c.Version), attrState: str(c.State)}
		if c.Reason != "" {
			m[attrReason] = str(c.Reason)
		}
		components[i] = &types.AttributeValueMemberM{Value: m}
	}
	item := statusKey(ev.Thing, FleetKey)
	item[attrTrigger] = str(string(ev.Trigger))
	item[attrOverall] = str(ev.Overall)
	item[attrSequence] = &types.AttributeValueMemberN{Value: strconv.FormatUint(ev.Sequence, 10)}
	item[attrTimestamp] = num(ev.Timestamp)
	item[attrReceivedAt] = num(ev.ReceivedAt)
	item[attrComponents] = &types.AttributeValueMemberL{Value: components}
	_, err = h.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(h.StatusTable),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#thing) OR #ts <= :ts"),
		ExpressionAttributeNames:  map[string]string{"#thing": attrThing, "#ts": attrTimestamp},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ts": num(ev.Timestamp)},
	})
	var stale *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &stale):
		log.InfoContext(ctx, "fleet status older than the recorded one", "timestamp", ev.Timestamp)
		return Result{Outcome: Stale}, nil
	case err != nil:
		return Result{}, lambdakit.Internal(ctx, log, "record fleet status", err, "table", h.StatusTable)
	}
	log.InfoContext(ctx, "fleet status", "outcome", Recorded, "overall", ev.Overall, "components", len(ev.Components), slog.Int64("timestamp", ev.Timestamp))
	return Result{Outcome: Recorded}, nil
}
