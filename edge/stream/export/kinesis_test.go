package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// faultProxy stands between the exporter and moto_server, which never
// fails a record. For the first failCalls PutRecords calls it withholds the
// records at odd positions from moto and answers them as throttled
// (ErrorCode set), exactly as Kinesis reports records it did not write.
// Everything else passes through untouched. It records the partition keys
// of every PutRecords call.
type faultProxy struct {
	*httptest.Server
	mu        sync.Mutex
	failCalls int
	calls     [][]string
}

func newFaultProxy(t *testing.T, target string, failCalls int) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{failCalls: failCalls}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
			rp.ServeHTTP(w, r)
			return
		}
		p.putRecords(t, w, r, rp)
	}))
	t.Cleanup(p.Close)
	return p
}

type putRecordsBody struct {
	Records []struct {
		Data         string
		PartitionKey string
	}
	StreamName string `json:",omitempty"`
	StreamARN  string `json:",omitempty"`
}

func (p *faultProxy) putRecords(t *testing.T, w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	raw, _ := io.ReadAll(r.Body)
	var in putRecordsBody
	if err := json.Unmarshal(raw, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	var keys []string
	for _, rec := range in.Records {
		keys = append(keys, rec.PartitionKey)
	}
	p.calls = append(p.calls, keys)
	fail := p.failCalls > 0
	p.failCalls--
	p.mu.Unlock()

	forward := in
	if fail {
		forward.Records = nil
		for i, rec := range in.Records {
			if i%2 == 0 {
				forward.Records = append(forward.Records, rec)
			}
		}
	}
	body, _ := json.Marshal(forward)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	if !fail || rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var out struct {
		FailedRecordCount int
		Records           []map[string]any
		EncryptionType    string `json:",omitempty"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var merged []map[string]any
	next := 0
	for i := range in.Records {
		if i%2 == 0 {
			merged = append(merged, out.Records[next])
			next++
		} else {
			merged = append(merged, map[string]any{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard (fault proxy)"})
			out.FailedRecordCount++
		}
	}
	out.Records = merged
	resp, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(resp)
}

func (p *faultProxy) putCalls() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]string(nil), p.calls...)
}

func kinesisDef(stream string, batchSize int64) ipc.ExportDefinition {
	return ipc.ExportDefinition{Kinesis: []ipc.KinesisConfig{{
		ExportCommon:      ipc.ExportCommon{Identifier: "to-kinesis", BatchSize: batchSize},
		KinesisStreamName: stream,
	}}}
}

// Kill -9 at every point of a batch's life, including after PutRecords
// accepted only some records: after the restart every message is in
// Kinesis exactly once. The restart scans the shards for the in-flight
// batch's partition keys and sends only what is missing.
func TestKinesisExportSurvivesKill9WithoutDuplicateRecords(t *testing.T) {
	endpoint := motoURL(t)
	const n, size = 300, 48
	for i, tc := range []struct {
		name      string
		crashAt   string
		killAfter int
		failCalls int // PutRecords calls whose odd records the proxy fails
	}{
		{"after the in-flight marker, before PutRecords", "marked:3", 0, 0},
		{"after PutRecords, before the commit", "sent:3", 0, 0},
		{"after PutRecords accepted half the records", "partial:1", 0, 1},
		{"after the commit, before the acks", "committed:2", 0, 0},
		{"at a moment the parent picks", "", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := uniqueName(fmt.Sprintf("crash-%d", i))
			createKinesisStream(t, endpoint, stream, 2)
			proxy := newFaultProxy(t, endpoint, tc.failCalls)
			cfg := childConfig{
				StoreDir: filepath.Join(t.TempDir(), "jetstream"), StreamName: "telemetry",
				Messages: n, Size: size, Definition: kinesisDef(stream, 25), CrashAt: tc.crashAt,
			}
			crashThenFinish(t, cfg, kinesisDef(stream, 40), proxy.URL, tc.killAfter)
			checkCountsOnce(t, "Kinesis records", kinesisSequences(t, endpoint, stream, size), n)
		})
	}
}

// When PutRecords reports FailedRecordCount > 0, only the failed records
// are sent again.
func TestKinesisResendsOnlyFailedRecords(t *testing.T) {
	endpoint := motoURL(t)
	js := testBroker(t)
	ctx := t.Context()
	s, err := ensureStreams(ctx, js, "sensors")
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 10, 16
	if err := appendMessages(ctx, js, s, "sensors", n, size); err != nil {
		t.Fatal(err)
	}
	stream := uniqueName("retry")
	createKinesisStream(t, endpoint, stream, 1)
	proxy := newFaultProxy(t, endpoint, 1)
	cfg := awsConfig()
	r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName("sensors"), StreamName: "sensors",
		Definition: kinesisDef(stream, n), AWS: &cfg, EndpointURL: proxy.URL, StatusPublish: statusPublisher(js), Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	exportedUpTo(t, r, n)

	calls := proxy.putCalls()
	if len(calls) != 2 {
		t.Fatalf("PutRecords calls = %v, want 2 (the batch, then its failed records)", calls)
	}
	if len(calls[0]) != n {
		t.Errorf("first call sent %d records, want %d", len(calls[0]), n)
	}
	var wantRetry []string
	for i := 1; i < n; i += 2 {
		wantRetry = append(wantRetry, calls[0][i])
	}
	if fmt.Sprint(calls[1]) != fmt.Sprint(wantRetry) {
		t.Errorf("second call sent %v, want only the failed records %v", calls[1], wantRetry)
	}
	checkCountsOnce(t, "Kinesis records", kinesisSequences(t, endpoint, stream, size), n)
	recs := statusRecords(t, js)
	if len(recs) != 1 || recs[0].Status != ipc.ExportSuccess || recs[0].FirstSequenceNumber != 1 || recs[0].LastSequenceNumber != n {
		t.Errorf("status records = %+v, want one success for 1-%d (record retries are one attempt)", recs, n)
	}
}

// Partition keys are "<instance>.<sequence>": unique per export, readable
// back by the scan.
func TestPartitionKeyRoundTrips(t *testing.T) {
	for _, seq := range []uint64{1, 42, 1<<63 + 5} {
		k := PartitionKey("0a1b2c3d4e5f6071", seq)
		if got, ok := parsePartitionKey("0a1b2c3d4e5f6071", k); !ok || got != seq {
			t.Errorf("parsePartitionKey(%q) = %d, %v; want %d", k, got, ok, seq)
		}
		if _, ok := parsePartitionKey("ffffffffffffffff", k); ok {
			t.Errorf("key %q of another export was taken as ours", k)
		}
	}
}
