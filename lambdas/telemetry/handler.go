package telemetry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/telemetry"
	"github.com/sward-iot/sward/shared/topics"
)

// ObjectPutter is the part of the S3 client the handler uses.
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// StateStore is the part of the DynamoDB client the handler uses.
type StateStore interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Publisher is the part of the IoT data plane client the handler uses.
type Publisher interface {
	Publish(ctx context.Context, in *iotdataplane.PublishInput, opts ...func(*iotdataplane.Options)) (*iotdataplane.PublishOutput, error)
}

// maxStateAttempts bounds the read-compute-write loop of one metric. A
// conflict needs another invocation for the same thing, stream and metric
// in the same few milliseconds; eight in a row means something is wrong,
// and failing lets Lambda retry the event later.
const maxStateAttempts = 8

// maxReasonsLogged bounds the reasons one log line lists for a batch's bad
// records: enough to see the pattern, few enough for a hostile batch.
const maxReasonsLogged = 10

// Handler handles telemetry rule events. Set every field; the zero
// Thresholds means none.
type Handler struct {
	S3  ObjectPutter
	DB  StateStore
	IoT Publisher
	// Bucket is the telemetry archive bucket (SWARD_TELEMETRY_BUCKET).
	Bucket string
	// StateTable is the anomaly state table (SWARD_TELEMETRY_STATE_TABLE),
	// partition key pk (S).
	StateTable string
	Thresholds telemetry.Thresholds
	Log        *slog.Logger
}

// Result says what one invocation did. Lambda ignores it for the IoT
// rule's asynchronous invocations; tests and direct invocations read it.
type Result struct {
	// Accepted counts the records archived and evaluated.
	Accepted int `json:"accepted"`
	// Malformed counts bad records, or 1 for an event or payload that is
	// not a batch at all.
	Malformed int `json:"malformed"`
	// Objects are the archive keys written.
	Objects []string `json:"objects,omitempty"`
	// Alerts counts the alerts published.
	Alerts int `json:"alerts"`
}

// Handle processes one telemetry rule event. It returns
// lambdakit.ErrInternal for failures a retry may fix, and
// lambdakit.ErrRefused for an event that is empty or not JSON, which the
// telemetry rule never sends (see doc.go, Failures and retries); a bad
// device message is logged, counted and returns no error.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (Result, error) {
	if err := lambdakit.CheckEvent(event); err != nil {
		return Result{Malformed: 1}, lambdakit.Refused(ctx, h.Log, "telemetry event refused", err)
	}
	p, res := h.prepare(ctx, event)
	if p == nil {
		return res, nil
	}
	log := h.Log.With("thing", p.event.Thing, "stream", p.event.Stream)
	for _, o := range p.objects {
		_, err := h.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(h.Bucket),
			Key:         aws.String(o.Key),
			Body:        bytes.NewReader(o.Body),
			ContentType: aws.String("application/x-ndjson"),
		})
		if err != nil {
			return res, lambdakit.Internal(ctx, log, "archive telemetry", err, "bucket", h.Bucket, "key", o.Key)
		}
		res.Objects = append(res.Objects, o.Key)
	}
	published := map[string]bool{}
	for _, metric := range p.metrics {
		n, err := h.evaluateMetric(ctx, log, p, metric, published)
		res.Alerts += n
		if err != nil {
			return res, err
		}
	}
	log.InfoContext(ctx, "telemetry archived", "accepted", res.Accepted, "malformed", res.Malformed, "objects", len(res.Objects), "alerts", res.Alerts)
	return res, nil
}

// prepared is an event decoded and laid out, before any AWS call.
type prepared struct {
	event    *telemetry.RuleEvent
	digest   string // of the message (messageDigest): names its archive objects, counts it once
	objects  []archiveObject
	metrics  []string                      // sorted
	byMetric map[string][]telemetry.Record // sorted by timestamp
}

// prepare decodes and lays out an event; nil when there is nothing to
// store. It logs what it refuses.
func (h *Handler) prepare(ctx context.Context, event json.RawMessage) (*prepared, Result) {
	var res Result
	ev, err := telemetry.DecodeRuleEvent(event)
	if err != nil {
		res.Malformed = 1
		h.Log.WarnContext(ctx, "telemetry event refused", "reason", err.Error())
		return nil, res
	}
	batch, err := telemetry.DecodeBatch(ev.Data)
	if err != nil {
		res.Malformed = 1
		h.Log.WarnContext(ctx, "malformed telemetry payload", "thing", ev.Thing, "stream", ev.Stream, "bytes", len(ev.Data), "reason", err.Error())
		return nil, res
	}
	res.Accepted, res.Malformed = len(batch.Records), len(batch.Rejected)
	if len(batch.Rejected) > 0 {
		reasons := make([]string, 0, min(len(batch.Rejected), maxReasonsLogged))
		for _, r := range batch.Rejected[:min(len(batch.Rejected), maxReasonsLogged)] {
			reasons = append(reasons, r.Err.Error())
		}
		h.Log.WarnContext(ctx, "malformed telemetry records", "thing", ev.Thing, "stream", ev.Stream, "malformed", len(batch.Rejected), "accepted", len(batch.Records), "reasons", reasons)
	}
	if len(batch.Records) == 0 {
		return nil, res
	}
	p := &prepared{event: ev, digest: messageDigest(ev, batch.MessageID), byMetric: map[string][]telemetry.Record{}}
	p.objects = archive(ev, p.digest, batch.MessageID, batch.Records)
	for _, r := range batch.Records {
		p.byMetric[r.Metric] = append(p.byMetric[r.Metric], r)
	}
	for metric, rs := range p.byMetric {
		p.metrics = append(p.metrics, metric)
		slices.SortStableFunc(rs, func(a, b telemetry.Record) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	}
	slices.Sort(p.metrics)
	return p, res
}

// evaluateMetric runs one metric's records against its state, publishes
// the alerts and commits the state, retrying on a concurrent update. It
// returns how many alerts it published.
func (h *Handler) evaluateMetric(ctx context.Context, log *slog.Logger, p *prepared, metric string, published map[string]bool) (int, error) {
	ev := p.event
	key := stateKey(ev.Thing, ev.Stream, metric)
	limits := h.Thresholds.For(metric)
	sent := 0
	for range maxStateAttempts {
		s, err := h.loadState(ctx, key)
		if err != nil {
			return sent, lambdakit.Internal(ctx, log, "read telemetry state", err, "table", h.StateTable, "pk", key)
		}
		before := s.Version
		alerts, changed := evaluate(&s, p.digest, ev.Thing, ev.Stream, metric, p.byMetric[metric], limits)
		for i := range alerts {
			a := &alerts[i]
			id := a.ID()
			if published[id] {
				continue
			}
			if err := h.publish(ctx, a); err != nil {
				return sent, lambdakit.Internal(ctx, log, "publish alert", err, "topic", topics.Alerts(ev.Thing), "metric", metric, "kind", a.Kind)
			}
			published[id] = true
			sent++
			log.InfoContext(ctx, "alert published", "metric", metric, "kind", a.Kind, "value", a.Value, "count", a.Count, "alertId", a.AlertID)
		}
		if !changed {
			return sent, nil
		}
		err = h.saveState(ctx, key, s, before)
		var conflict *types.ConditionalCheckFailedException
		if errors.As(err, &conflict) {
			continue // another invocation updated it first: read again
		}
		if err != nil {
			return sent, lambdakit.Internal(ctx, log, "write telemetry state", err, "table", h.StateTable, "pk", key)
		}
		return sent, nil
	}
	return sent, lambdakit.Internal(ctx, log, "write telemetry state", fmt.Errorf("%d conflicting updates in a row", maxStateAttempts), "table", h.StateTable, "pk", key)
}

func (h *Handler) publish(ctx context.Context, a *telemetry.Alert) error {
	payload, err := a.Encode()
	if err != nil {
		return err
	}
	_, err = h.IoT.Publish(ctx, &iotdataplane.PublishInput{
		Topic:   aws.String(topics.Alerts(a.Thing)),
		Qos:     1,
		Payload: payload,
	})
	return err
}

// stateKey is the state table's partition key: thing, stream and metric
// names cannot contain '#'.
func stateKey(thing, stream, metric string) string { return thing + "#" + stream + "#" + metric }

// State table attributes.
const (
	attrKey     = "pk"
	attrN       = "n"
	attrMean    = "mean"
	attrVar     = "var"
	attrRecent  = "recent"
	attrVersion = "version"
)

func (h *Handler) loadState(ctx context.Context, key string) (State, error) {
	out, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.StateTable),
		Key:            map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || len(out.Item) == 0 {
		return State{}, err
	}
	var s State
	var errs []error
	s.N, errs = intAttr(out.Item, attrN, errs)
	if l, ok := out.Item[attrRecent].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if d, ok := v.(*types.AttributeValueMemberS); ok {
				s.Recent = append(s.Recent, d.Value)
			}
		}
	}
	s.Version, errs = intAttr(out.Item, attrVersion, errs)
	s.Mean, errs = floatAttr(out.Item, attrMean, errs)
	s.Var, errs = floatAttr(out.Item, attrVar, errs)
	return s, errors.Join(errs...)
}

// saveState writes s if the stored version is still before (or there is
// none when before is 0).
func (h *Handler) saveState(ctx context.Context, key string, s State, before int64) error {
	_, err := h.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(h.StateTable),
		Item: map[string]types.AttributeValue{
			attrKey:     &types.AttributeValueMemberS{Value: key},
			attrN:       number(strconv.FormatInt(s.N, 10)),
			attrMean:    number(strconv.FormatFloat(s.Mean, 'g', -1, 64)),
			attrVar:     number(strconv.FormatFloat(s.Var, 'g', -1, 64)),
			attrRecent:  recentList(s.Recent),
			attrVersion: number(strconv.FormatInt(before+1, 10)),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #version = :before"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrKey, "#version": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":before": number(strconv.FormatInt(before, 10))},
	})
	return err
}

func number(s string) types.AttributeValue { return &types.AttributeValueMemberN{Value: s} }

func recentList(digests []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(digests))
	for i, d := range digests {
		l[i] = &types.AttributeValueMemberS{Value: d}
	}
	return &types.AttributeValueMemberL{Value: l}
}

func intAttr(item map[string]types.AttributeValue, name string, errs []error) (int64, []error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, append(errs, fmt.Errorf("state attribute %s is missing or not a number", name))
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, append(errs, fmt.Errorf("state attribute %s: %w", name, err))
	}
	return v, errs
}

func floatAttr(item map[string]types.AttributeValue, name string, errs []error) (float64, []error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, append(errs, fmt.Errorf("state attribute %s is missing or not a number", name))
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return 0, append(errs, fmt.Errorf("state attribute %s: %w", name, err))
	}
	return v, errs
}
