package cloud

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/lambdas/lambdakit"
	"github.com/sward-iot/sward/lambdas/telemetry"
	sharedtelemetry "github.com/sward-iot/sward/shared/telemetry"
	"github.com/sward-iot/sward/shared/topics"
)

// telemetryEnv is a bucket, a state table and a handler for one test.
type telemetryEnv struct {
	c      clients
	bucket string
	table  string
	thing  string
	h      *telemetry.Handler
}

func newTelemetryEnv(t *testing.T) *telemetryEnv {
	t.Helper()
	e := &telemetryEnv{c: newClients(), bucket: name(t, "tel"), table: name(t, "state"), thing: name(t, "pi")}
	createBucket(t, e.c, e.bucket)
	createTable(t, e.c, e.table, "pk", "")
	th, err := sharedtelemetry.ParseThresholds(`{"temperature":{"min":-20,"max":80}}`)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := newLog(t, "telemetry")
	e.h = &telemetry.Handler{S3: e.c.s3, DB: e.c.db, IoT: e.c.pub, Bucket: e.bucket, StateTable: e.table, Thresholds: th, Log: log}
	return e
}

// event is the telemetry rule's output for a batch of records.
func (e *telemetryEnv) event(t *testing.T, receivedAt int64, records ...sharedtelemetry.Record) []byte {
	t.Helper()
	b := sharedtelemetry.Batch{FormatVersion: sharedtelemetry.FormatVersion, Records: records}
	payload, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return rawEvent(e.thing, payload, receivedAt)
}

func rawEvent(thing string, payload []byte, receivedAt int64) []byte {
	ev, _ := json.Marshal(map[string]any{"data": base64.StdEncoding.EncodeToString(payload), "thing": thing, "stream": "env", "receivedAt": receivedAt})
	return ev
}

func (e *telemetryEnv) keys(t *testing.T) []string {
	t.Helper()
	out, err := e.c.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

func (e *telemetryEnv) object(t *testing.T, key string) string {
	t.Helper()
	out, err := e.c.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// alerts returns the alerts moto received for the test's thing.
func (e *telemetryEnv) alerts(t *testing.T) []*sharedtelemetry.Alert {
	t.Helper()
	var out []*sharedtelemetry.Alert
	for _, p := range moto.Published(t, topics.Alerts(e.thing)) {
		a, err := sharedtelemetry.DecodeAlert(p)
		if err != nil {
			t.Fatalf("published alert does not decode: %v\n%s", err, p)
		}
		out = append(out, a)
	}
	return out
}

func (e *telemetryEnv) stateN(t *testing.T, metric string) string {
	t.Helper()
	return n(getItem(t, e.c, e.table, sKey("pk", e.thing+"#env#"+metric)), "n")
}

const hour1 = 1767229200000 // 2026-01-01T01:00:00Z

func rec(metric string, value float64, ts int64) sharedtelemetry.Record {
	return sharedtelemetry.Record{Metric: metric, Value: value, Timestamp: ts}
}

func TestTelemetryIsArchivedForAthenaAndAlertsArePublished(t *testing.T) {
	e := newTelemetryEnv(t)
	moto.StartRecording(t)
	res, err := e.h.Handle(ctx(t), e.event(t, hour1+500, rec("temperature", 21.5, hour1), rec("temperature", 95, hour1+1000), rec("humidity", 40, hour1)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || res.Malformed != 0 || res.Alerts != 1 {
		t.Errorf("result = %+v, want 3 accepted and 1 alert", res)
	}
	keys := e.keys(t)
	prefix := fmt.Sprintf("thing=%s/date=2026-01-01/hour=01/env-", e.thing)
	if len(keys) != 1 || !strings.HasPrefix(keys[0], prefix) {
		t.Fatalf("archive keys = %v, want one under %s", keys, prefix)
	}
	lines := strings.Split(strings.TrimSuffix(e.object(t, keys[0]), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"metric":"temperature","value":21.5`) {
		t.Errorf("archived lines = %q", lines)
	}
	alerts := e.alerts(t)
	if len(alerts) != 1 || alerts[0].Kind != sharedtelemetry.AboveMax || alerts[0].Value != 95 || *alerts[0].Limit != 80 || alerts[0].Thing != e.thing {
		t.Fatalf("alerts on %s = %+v, want one ABOVE_MAX 95", topics.Alerts(e.thing), alerts)
	}
	if got := e.stateN(t, "temperature"); got != "2" {
		t.Errorf("temperature state n = %q, want 2", got)
	}
}

func TestTelemetryRetryOverwritesTheArchiveAndCountsOnce(t *testing.T) {
	e := newTelemetryEnv(t)
	moto.StartRecording(t)
	ev := e.event(t, hour1+500, rec("temperature", 90, hour1), rec("humidity", 40, hour1))
	for range 2 { // the same message twice: a Lambda retry or a duplicate QoS 1 delivery
		if _, err := e.h.Handle(ctx(t), ev); err != nil {
			t.Fatal(err)
		}
	}
	if keys := e.keys(t); len(keys) != 1 {
		t.Errorf("archive keys = %v, want one object", keys)
	}
	if got := e.stateN(t, "temperature"); got != "1" {
		t.Errorf("temperature state n = %q after the same batch twice, want 1", got)
	}
	alerts := e.alerts(t)
	if len(alerts) != 2 || alerts[0].AlertID != alerts[1].AlertID {
		t.Errorf("alerts = %+v, want the same alert (same alertId) at least once per delivery", alerts)
	}
}

func TestTelemetryPartialBatchStoresTheGoodRecords(t *testing.T) {
	e := newTelemetryEnv(t)
	payload := []byte(`{"formatVersion":1,"records":[
		{"metric":"temperature","value":21.5,"timestamp":1767229200000},
		{"metric":"temperature","value":"hot","timestamp":1767229200000},
		{"metric":"humidity","value":40,"timestamp":1767229200}]}`)
	res, err := e.h.Handle(ctx(t), rawEvent(e.thing, payload, hour1+500))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || res.Malformed != 2 {
		t.Errorf("result = %+v, want 1 accepted, 2 malformed", res)
	}
	keys := e.keys(t)
	if len(keys) != 1 || strings.Count(e.object(t, keys[0]), "\n") != 1 {
		t.Errorf("archive = %v, want one object with the one good record", keys)
	}
	res, err = e.h.Handle(ctx(t), rawEvent(e.thing, []byte("temperature=21.5"), hour1+600))
	if err != nil || res.Malformed != 1 || len(e.keys(t)) != 1 {
		t.Errorf("a payload that is not JSON: %+v, %v; want it counted and nothing stored", res, err)
	}
}

func TestTelemetryAnomalyAlertSurvivesAFailedPublish(t *testing.T) {
	e := newTelemetryEnv(t)
	var steady []sharedtelemetry.Record
	for i := range 40 {
		steady = append(steady, rec("vibration", 1+float64(i%3)/10, hour1+int64(i)*1000))
	}
	if _, err := e.h.Handle(ctx(t), e.event(t, hour1+50000, steady...)); err != nil {
		t.Fatal(err)
	}
	spike := e.event(t, hour1+60000, rec("vibration", 9, hour1+55000))

	// The data plane is down: the invocation fails and the state that
	// raised the alert is not committed.
	broken := *e.h
	broken.IoT = iotdataplane.NewFromConfig(moto.Config(), func(o *iotdataplane.Options) { o.BaseEndpoint = aws.String("http://127.0.0.1:1") })
	if _, err := broken.Handle(ctx(t), spike); err != lambdakit.ErrInternal {
		t.Fatalf("with the data plane down: err = %v, want lambdakit.ErrInternal", err)
	}
	if got := e.stateN(t, "vibration"); got != "40" {
		t.Fatalf("vibration n = %s after the failed invocation, want 40 (not committed)", got)
	}

	moto.StartRecording(t)
	res, err := e.h.Handle(ctx(t), spike) // Lambda's retry
	if err != nil || res.Alerts != 1 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	alerts := e.alerts(t)
	if len(alerts) != 1 || alerts[0].Kind != sharedtelemetry.Anomaly || alerts[0].Value != 9 || *alerts[0].ZScore < sharedtelemetry.DefaultZScore {
		t.Fatalf("alerts = %+v, want one ANOMALY for 9", alerts)
	}
	if got := e.stateN(t, "vibration"); got != "41" {
		t.Errorf("vibration n = %s, want 41", got)
	}
}

func TestTelemetryConcurrentInvocationsLoseNoUpdate(t *testing.T) {
	e := newTelemetryEnv(t)
	const invocations, perBatch = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, invocations)
	for i := range invocations {
		var rs []sharedtelemetry.Record
		for j := range perBatch {
			rs = append(rs, rec("humidity", 40+float64(j), hour1+int64(i*perBatch+j)*1000))
		}
		ev := e.event(t, hour1+int64(i), rs...)
		wg.Go(func() {
			_, err := e.h.Handle(ctx(t), ev)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.stateN(t, "humidity"); got != fmt.Sprint(invocations*perBatch) {
		t.Errorf("humidity n = %s after %d concurrent batches of %d, want %d", got, invocations, perBatch, invocations*perBatch)
	}
}
