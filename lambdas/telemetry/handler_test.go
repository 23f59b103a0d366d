package telemetry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/internal/lambdatest"
	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/shared/telemetry"
)

// unreachableHandler is a handler whose every AWS call fails at once.
func unreachableHandler(t testing.TB) (*Handler, *lambdatest.Log) {
	cfg := lambdatest.Unreachable(t)
	log := lambdatest.NewLog("telemetry")
	th, err := telemetry.ParseThresholds(`{"temperature":{"min":-20,"max":80}}`)
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{
		S3: s3.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg), IoT: iotdataplane.NewFromConfig(cfg),
		Bucket: "telemetry", StateTable: "state", Thresholds: th, Log: log.Logger,
	}, log
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAnEventTheRuleNeverSendsIsRefusedWithAnError(t *testing.T) {
	for name, event := range map[string][]byte{
		"not JSON": readFixture(t, "event-not-json.json"),
		"empty":    nil,
		"blank":    []byte(" \n"),
		"null":     []byte("null"),
	} {
		t.Run(name, func(t *testing.T) {
			h, log := unreachableHandler(t)
			res, err := h.Handle(context.Background(), event)
			// An error, so that Lambda hands the event to the failure
			// queue (and its alarm) after its retries.
			if !errors.Is(err, lambdakit.ErrRefused) {
				t.Fatalf("Handle(%q) = %+v, %v; want lambdakit.ErrRefused", event, res, err)
			}
			if res.Malformed != 1 || len(res.Objects) != 0 {
				t.Errorf("result = %+v, want one malformed and nothing stored", res)
			}
			rec := log.Find(t, "telemetry event refused")
			if rec == nil || rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["reason"]), "the event is") {
				t.Errorf("log record = %v, want an ERROR with the reason", rec)
			}
		})
	}
}

func TestMalformedDeviceInputIsCountedAndLoggedNeverFailed(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		logMsg  string
		reason  string
	}{
		{"event-wrong-shape.json", "telemetry event refused", "is a list; it must be an object"},
		{"event-bad-thing.json", "telemetry event refused", "is not a thing name"},
		{"event-bad-stream.json", "telemetry event refused", "is not a stream name"},
		{"payload-not-json.json", "malformed telemetry payload", "the telemetry batch is not valid JSON"},
		{"payload-binary.json", "malformed telemetry payload", "the telemetry batch is not valid JSON"},
		{"payload-newer-format.json", "malformed telemetry payload", "formatVersion: is 2"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			h, log := unreachableHandler(t)
			res, err := h.Handle(context.Background(), readFixture(t, tc.fixture))
			if err != nil {
				t.Fatalf("Handle failed on bad input (Lambda would retry it for nothing): %v", err)
			}
			if res.Malformed != 1 || res.Accepted != 0 || len(res.Objects) != 0 {
				t.Errorf("result = %+v, want one malformed and nothing stored", res)
			}
			rec := log.Find(t, tc.logMsg)
			if rec == nil || !strings.Contains(fmt.Sprint(rec["reason"]), tc.reason) {
				t.Errorf("log record %q = %v, want a reason containing %q", tc.logMsg, rec, tc.reason)
			}
		})
	}
}

func TestPartialBatchKeepsGoodRecords(t *testing.T) {
	h, log := unreachableHandler(t)
	p, res := h.prepare(context.Background(), readFixture(t, "partial.json"))
	if p == nil || res.Accepted != 2 || res.Malformed != 2 {
		t.Fatalf("prepare = %+v, %+v; want 2 accepted, 2 malformed", p, res)
	}
	rec := log.Find(t, "malformed telemetry records")
	reasons := fmt.Sprint(rec["reasons"])
	if !strings.Contains(reasons, "records[1].value") || !strings.Contains(reasons, "records[3].timestamp") {
		t.Errorf("logged reasons = %s, want records[1].value and records[3].timestamp", reasons)
	}
}

func TestAWSFailureIsInternalAndNotEchoed(t *testing.T) {
	h, log := unreachableHandler(t)
	res, err := h.Handle(context.Background(), readFixture(t, "good.json"))
	if !errors.Is(err, lambdakit.ErrInternal) || err.Error() != lambdakit.ErrInternal.Error() {
		t.Fatalf("err = %v, want exactly lambdakit.ErrInternal", err)
	}
	if strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "telemetry") {
		t.Errorf("the error echoes internals: %v", err)
	}
	if res.Accepted != 3 {
		t.Errorf("result = %+v", res)
	}
	if rec := log.Find(t, "archive telemetry"); rec == nil || rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["err"]), "connect") {
		t.Errorf("the cause is not logged: %v", rec)
	}
}

func TestArchiveLayout(t *testing.T) {
	ev := &telemetry.RuleEvent{Data: []byte("payload"), Thing: "pi-1", Stream: "env", ReceivedAt: 1767229260500}
	records := []telemetry.Record{
		{Metric: "t", Value: 1.5, Timestamp: 1767229200000}, // 2026-01-01 01:00
		{Metric: "t", Value: 2, Timestamp: 1767232800000},   // 2026-01-01 02:00
		{Metric: "h", Value: -3e-7, Timestamp: 1767229201000},
	}
	objects := archive(ev, payloadDigest(ev.Data), "", records)
	if len(objects) != 2 {
		t.Fatalf("%d objects, want one per hour", len(objects))
	}
	want := "thing=pi-1/date=2026-01-01/hour=01/env-"
	if !strings.HasPrefix(objects[0].Key, want) || !strings.HasSuffix(objects[0].Key, ".json") {
		t.Errorf("key %q, want %s<digest>.json", objects[0].Key, want)
	}
	if !strings.Contains(objects[1].Key, "/hour=02/") {
		t.Errorf("second key %q is not in hour 02", objects[1].Key)
	}
	again := archive(ev, payloadDigest(ev.Data), "", records)
	if again[0].Key != objects[0].Key {
		t.Error("the same event gets a different key: a retry would duplicate the archive")
	}
	other := archive(ev, payloadDigest([]byte("payload 2")), "", records)
	if other[0].Key == objects[0].Key {
		t.Error("two messages in the same millisecond share a key: one would overwrite the other")
	}
	lines := strings.Split(strings.TrimSuffix(string(objects[0].Body), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("hour 01 has %d lines, want 2: %q", len(lines), objects[0].Body)
	}
	var row struct {
		Thing, Stream, Metric string
		Value                 float64
		Timestamp, ReceivedAt int64
	}
	if err := json.Unmarshal([]byte(lines[1]), &row); err != nil {
		t.Fatal(err)
	}
	if row.Thing != "pi-1" || row.Stream != "env" || row.Metric != "h" || row.Value != -3e-7 || row.Timestamp != 1767229201000 || row.ReceivedAt != 1767229260500 {
		t.Errorf("row = %+v", row)
	}
}

func TestAReSentMessageLandsUnderTheSameKeys(t *testing.T) {
	records := []telemetry.Record{{Metric: "t", Value: 1.5, Timestamp: 1767229200000}}
	first := &telemetry.RuleEvent{Data: []byte(`{"formatVersion":1,"messageId":"m-1","records":[…]}`), Thing: "pi-1", Stream: "env", ReceivedAt: 1767229260500}
	// The same message sent again a minute later after a restart: new
	// receivedAt, and its bytes re-serialized differently.
	resent := &telemetry.RuleEvent{Data: []byte(`{"messageId":"m-1","formatVersion":1,"records":[…]}`), Thing: "pi-1", Stream: "env", ReceivedAt: 1767229320000}
	a := archive(first, messageDigest(first, "m-1"), "m-1", records)
	b := archive(resent, messageDigest(resent, "m-1"), "m-1", records)
	if a[0].Key != b[0].Key {
		t.Errorf("re-sent message keys %s and %s differ: the archive would hold it twice", a[0].Key, b[0].Key)
	}
	if !strings.Contains(string(a[0].Body), `"messageId":"m-1"`) {
		t.Errorf("row %s does not carry the message id", a[0].Body)
	}
	for _, other := range []struct {
		ev *telemetry.RuleEvent
		id string
	}{
		{first, "m-2"}, // another message of the device
		{&telemetry.RuleEvent{Data: first.Data, Thing: "pi-2", Stream: "env", ReceivedAt: first.ReceivedAt}, "m-1"}, // another device's m-1
		{&telemetry.RuleEvent{Data: first.Data, Thing: "pi-1", Stream: "power", ReceivedAt: first.ReceivedAt}, "m-1"},
	} {
		if c := archive(other.ev, messageDigest(other.ev, other.id), other.id, records); c[0].Key == a[0].Key {
			t.Errorf("%s/%s id %s shares the key %s of pi-1/env m-1: one would overwrite the other", other.ev.Thing, other.ev.Stream, other.id, c[0].Key)
		}
	}
	// Without an id, a byte-identical re-send is the same message.
	noID := &telemetry.RuleEvent{Data: first.Data, Thing: "pi-1", Stream: "env", ReceivedAt: 1767229999999}
	if messageDigest(first, "") != messageDigest(noID, "") {
		t.Error("a byte-identical re-send without an id gets another digest")
	}
}

func TestStatisticsAreTheMeanAndVarianceAtFirst(t *testing.T) {
	var s State
	values := []float64{2, 4, 4, 4, 5, 5, 7, 9}
	for _, v := range values {
		s.observe(v, DefaultZ)
	}
	if math.Abs(s.Mean-5) > 1e-12 || math.Abs(s.Var-4) > 1e-12 {
		t.Errorf("mean %v var %v, want 5 and 4 (population variance)", s.Mean, s.Var)
	}
}

const DefaultZ = telemetry.DefaultZScore

func TestAnomalyRule(t *testing.T) {
	ts := int64(1767229200000)
	steady := func(n int) []telemetry.Record {
		var rs []telemetry.Record
		for i := range n {
			ts += 1000
			rs = append(rs, telemetry.Record{Metric: "t", Value: 20 + float64(i%3) - 1, Timestamp: ts}) // 19, 20, 21
		}
		return rs
	}
	limits := telemetry.Thresholds{}.For("t")
	var s State

	alerts, changed := evaluate(&s, "batch-1", "pi", "env", "t", steady(MinSamples-1), limits)
	if len(alerts) != 0 || !changed || s.N != MinSamples-1 {
		t.Fatalf("warm-up: alerts %v, state %+v", alerts, s)
	}
	spike := append(steady(1), telemetry.Record{Metric: "t", Value: 40, Timestamp: ts + 1000})
	ts += 1000
	alerts, _ = evaluate(&s, "batch-2", "pi", "env", "t", spike, limits)
	if len(alerts) != 1 || alerts[0].Kind != telemetry.Anomaly || alerts[0].Value != 40 || *alerts[0].ZScore < DefaultZ {
		t.Fatalf("spike alerts = %+v, want one ANOMALY for 40", alerts)
	}
	if m := *alerts[0].Mean; m < 19 || m > 21 {
		t.Errorf("the alert's mean %v is not the steady level", m)
	}

	before := s
	alerts, changed = evaluate(&s, "batch-2", "pi", "env", "t", spike, limits)
	if changed || len(alerts) != 0 || s.N != before.N || s.Mean != before.Mean || len(s.Recent) != 2 {
		t.Errorf("re-evaluating counted readings (a retry) changed the state or alerted again: %+v, %v", s, alerts)
	}
}

func TestThresholdAlertsKeepTheMostExtremeReading(t *testing.T) {
	min, max := -20.0, 80.0
	limits := telemetry.Limits{Min: &min, Max: &max, ZScore: DefaultZ}
	rs := []telemetry.Record{
		{Metric: "t", Value: 81, Timestamp: 1767229200000},
		{Metric: "t", Value: 95, Timestamp: 1767229201000},
		{Metric: "t", Value: 85, Timestamp: 1767229202000},
		{Metric: "t", Value: -30, Timestamp: 1767229203000},
		{Metric: "t", Value: 80, Timestamp: 1767229204000}, // at the limit: not above it
	}
	var s State
	alerts, _ := evaluate(&s, "batch", "pi", "env", "t", rs, limits)
	if len(alerts) != 2 {
		t.Fatalf("alerts = %+v, want BELOW_MIN and ABOVE_MAX", alerts)
	}
	low, high := alerts[0], alerts[1]
	if low.Kind != telemetry.BelowMin || low.Value != -30 || low.Count != 1 || *low.Limit != -20 {
		t.Errorf("low = %+v", low)
	}
	if high.Kind != telemetry.AboveMax || high.Value != 95 || high.Timestamp != 1767229201000 || high.Count != 3 || *high.Limit != 80 {
		t.Errorf("high = %+v", high)
	}
}

// FuzzHandle feeds arbitrary events, and arbitrary payloads inside valid
// events, to the whole handler: it must never panic, fail a bad device
// payload, or return anything but ErrInternal (an AWS call failed) or
// ErrRefused (an event that is empty or not JSON).
func FuzzHandle(f *testing.F) {
	for _, name := range []string{"good.json", "partial.json", "payload-binary.json", "event-not-json.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
	}
	f.Add([]byte(`{"formatVersion":1,"records":[{"metric":"t","value":1e308,"timestamp":1767229200000}]}`), true)
	f.Add([]byte(`{"formatVersion":1,"records":[{"metric":"t","value":-0,"timestamp":4102444799999}]}`), true)
	h, _ := unreachableHandler(f)
	f.Fuzz(func(t *testing.T, data []byte, asPayload bool) {
		event := data
		if asPayload {
			event = []byte(fmt.Sprintf(`{"data":%q,"thing":"pi","stream":"s","receivedAt":1767229200000}`, base64.StdEncoding.EncodeToString(data)))
		}
		res, err := h.Handle(context.Background(), event)
		if err == lambdakit.ErrRefused {
			if asPayload || lambdakit.CheckEvent(event) == nil {
				t.Fatalf("Handle refused a JSON event: %q", event)
			}
			return
		}
		if err != nil && err != lambdakit.ErrInternal {
			t.Fatalf("Handle returned %v", err)
		}
		if err != nil && res.Accepted == 0 {
			t.Fatalf("Handle failed with nothing to store: %+v, %v", res, err)
		}
	})
}

func TestStateCountsEachBatchOnceAndRemembersTheLastOnes(t *testing.T) {
	var s State
	limits := telemetry.Thresholds{}.For("t")
	r := []telemetry.Record{{Metric: "t", Value: 1, Timestamp: 1767229200000}}
	for i := range RecentBatches + 5 {
		if _, changed := evaluate(&s, fmt.Sprint("batch-", i), "pi", "env", "t", r, limits); !changed {
			t.Fatalf("batch %d was not counted", i)
		}
	}
	if s.N != RecentBatches+5 || len(s.Recent) != RecentBatches || s.Recent[0] != "batch-5" {
		t.Fatalf("state = N %d, %d recent starting %q; want every batch counted and the last %d remembered", s.N, len(s.Recent), s.Recent[0], RecentBatches)
	}
	if _, changed := evaluate(&s, "batch-36", "pi", "env", "t", r, limits); changed {
		t.Error("a batch counted already was counted again")
	}
}

// ruleEvent is what the telemetry rule hands the Lambda for payload
// published on sward/<thing>/telemetry/<stream>.
func ruleEvent(t testing.TB, thing, stream string, payload []byte) []byte {
	t.Helper()
	ev, err := json.Marshal(map[string]any{"data": base64.StdEncoding.EncodeToString(payload), "thing": thing, "stream": stream, "receivedAt": 1767225600500})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// A device speaks the contract by building its payload with
// shared/telemetry; the sample SensorSimulator's local reading format is
// not a batch and is refused with a reason naming the problem.
func TestBatchBuiltWithTheSharedContractIsAccepted(t *testing.T) {
	h, _ := unreachableHandler(t)
	payload, err := telemetry.NewBatch(time.UnixMilli(1767225600000), map[string]float64{"vibration": 2.0, "temperature": 45.1}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, res := h.prepare(context.Background(), ruleEvent(t, "pi-1", "pump-1", payload))
	if p == nil || res.Accepted != 2 || res.Malformed != 0 || !slices.Equal(p.metrics, []string{"temperature", "vibration"}) {
		t.Fatalf("prepare(%s) = %+v, %+v; want 2 records accepted", payload, p, res)
	}

	h, log := unreachableHandler(t)
	reading := []byte(`{"sensorId":"pump-1","seq":1,"time":"2026-01-01T00:00:00Z","metrics":{"vibration":2.0}}`)
	if p, res := h.prepare(context.Background(), ruleEvent(t, "pi-1", "pump-1", reading)); p != nil || res.Malformed != 1 {
		t.Fatalf("prepare(local reading) = %+v, %+v; want it refused as malformed", p, res)
	}
	if rec := log.Find(t, "malformed telemetry payload"); rec == nil || !strings.Contains(fmt.Sprint(rec["reason"]), "formatVersion") {
		t.Errorf("log = %v, want a reason naming formatVersion", rec)
	}
}
