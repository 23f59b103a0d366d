package export

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// receiver is an HTTP endpoint that records every POST.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
	// fail answers the first fail requests with 503.
	fail int
}

type received struct {
	key         string
	first, last uint64
	at          time.Time
	messages    []ipc.Message
	raw         []byte
}

func newReceiver(t *testing.T, fail int) *receiver {
	t.Helper()
	rc := &receiver{fail: fail}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail > 0 {
			rc.fail--
			http.Error(w, "endpoint busy", http.StatusServiceUnavailable)
			return
		}
		first, _ := strconv.ParseUint(r.Header.Get(HeaderFirstSequence), 10, 64)
		last, _ := strconv.ParseUint(r.Header.Get(HeaderLastSequence), 10, 64)
		rq := received{key: r.Header.Get(HeaderIdempotencyKey), first: first, last: last, at: time.Now(), raw: body}
		if r.Header.Get("Content-Type") == "application/json" {
			if err := json.Unmarshal(body, &rq.messages); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		rc.reqs = append(rc.reqs, rq)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// seqs counts the messages received, after dropping repeated idempotency
// keys if dedupe.
func (rc *receiver) seqs(dedupe bool) map[uint64]int {
	seen := map[string]bool{}
	counts := map[uint64]int{}
	for _, rq := range rc.requests() {
		if dedupe && seen[rq.key] {
			continue
		}
		seen[rq.key] = true
		for _, m := range rq.messages {
			counts[uint64(m.SequenceNumber)]++
		}
	}
	return counts
}

func httpDef(uri string, c ipc.ExportCommon) ipc.ExportDefinition {
	return ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: c, URI: uri}}}
}

// HTTP cannot be asked what arrived, so a kill -9 between the POST and the
// commit repeats that one batch: with the same idempotency key and the same
// range, so an endpoint that remembers keys gets every message once.
func TestHTTPExportRepeatsOnlyTheInterruptedBatchAfterKill9(t *testing.T) {
	rc := newReceiver(t, 0)
	const n, size = 100, 32
	cfg := childConfig{
		StoreDir: filepath.Join(t.TempDir(), "jetstream"), StreamName: "events", Messages: n, Size: size,
		Definition: httpDef(rc.URL, ipc.ExportCommon{Identifier: "webhook", BatchSize: 10}), CrashAt: "sent:4",
	}
	crashThenFinish(t, cfg, httpDef(rc.URL, ipc.ExportCommon{Identifier: "webhook", BatchSize: 15}), "http://127.0.0.1:1", 0)

	checkCountsOnce(t, "messages after dropping repeated idempotency keys", rc.seqs(true), n)
	byKey := map[string]received{}
	repeats := 0
	for _, rq := range rc.requests() {
		if prev, ok := byKey[rq.key]; ok {
			repeats++
			if string(prev.raw) != string(rq.raw) || prev.first != rq.first || prev.last != rq.last {
				t.Errorf("idempotency key %s was reused for a different batch", rq.key)
			}
		}
		byKey[rq.key] = rq
	}
	if repeats != 1 {
		t.Errorf("%d repeated requests, want exactly 1 (the batch interrupted after its POST)", repeats)
	}
}

func runHTTP(t *testing.T, name string, n int, def ipc.ExportDefinition) (*Runner, *testing.T) {
	t.Helper()
	js := testBroker(t)
	ctx := t.Context()
	s, err := ensureStreams(ctx, js, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := appendMessages(ctx, js, s, name, n, 16); err != nil {
		t.Fatal(err)
	}
	r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName(name), StreamName: name, Definition: def,
		StatusPublish: statusPublisher(js), Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r, t
}

// A disabled export sends nothing and has no consumer; the others run.
func TestDisabledExportSendsNothing(t *testing.T) {
	on, off := newReceiver(t, 0), newReceiver(t, 0)
	def := ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{
		{ExportCommon: ipc.ExportCommon{Identifier: "on"}, URI: on.URL},
		{ExportCommon: ipc.ExportCommon{Identifier: "off", Disabled: true}, URI: off.URL},
	}}
	js := testBroker(t)
	ctx := t.Context()
	s, err := ensureStreams(ctx, js, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := appendMessages(ctx, js, s, "d", 20, 16); err != nil {
		t.Fatal(err)
	}
	r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName("d"), StreamName: "d", Definition: def, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "enabled export done", func() error {
		if got := r.Status()[0].LastExportedSequenceNumber; got != 20 {
			return fmt.Errorf("at %d", got)
		}
		return nil
	})
	r.Stop()
	if got := len(off.requests()); got != 0 {
		t.Errorf("disabled export sent %d requests", got)
	}
	if st := r.Status()[1]; st.ExportConfigIdentifier != "off" || st.LastExportedSequenceNumber != 0 {
		t.Errorf("disabled export status = %+v", st)
	}
	if _, err := s.Consumer(ctx, ConsumerName("off")); err == nil {
		t.Error("a disabled export has a consumer")
	}

	// Enabled again, it exports from the start.
	def.HTTP[1].Disabled = false
	r, err = Start(ctx, Options{JetStream: js, Stream: jsStreamName("d"), StreamName: "d", Definition: def, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	exportedUpTo(t, r, 20)
	checkCountsOnce(t, "re-enabled export", off.seqs(false), 20)
	checkCountsOnce(t, "export that ran all along", on.seqs(false), 20)
}

// Forget removes the progress of a deleted stream's exports, and only
// theirs.
func TestForgetDeletesTheStreamsState(t *testing.T) {
	rc := newReceiver(t, 0)
	r1, _ := runHTTP(t, "one", 3, httpDef(rc.URL, ipc.ExportCommon{Identifier: "a"}))
	exportedUpTo(t, r1, 3)
	ctx := t.Context()
	js := r1.exports[0].opts.JetStream
	r1.Stop()
	kv, err := js.KeyValue(ctx, StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, StateKey("sward_stream_other", "a"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := Forget(ctx, js, jsStreamName("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, StateKey(jsStreamName("one"), "a")); err == nil {
		t.Error("state of export a of stream one survived Forget")
	}
	if _, err := kv.Get(ctx, StateKey("sward_stream_other", "a")); err != nil {
		t.Errorf("Forget of stream one removed another stream's state: %v", err)
	}
}

// startSequenceNumber skips the messages before it.
func TestStartSequenceNumberSkipsEarlierMessages(t *testing.T) {
	rc := newReceiver(t, 0)
	r, _ := runHTTP(t, "s", 10, httpDef(rc.URL, ipc.ExportCommon{Identifier: "from6", StartSequenceNumber: 6}))
	exportedUpTo(t, r, 10)
	counts := rc.seqs(false)
	for seq := uint64(1); seq <= 10; seq++ {
		if want := map[bool]int{true: 1, false: 0}[seq >= 6]; counts[seq] != want {
			t.Errorf("message %d received %d times, want %d", seq, counts[seq], want)
		}
	}
}

// A partial batch goes out once its first message is batchIntervalMillis
// old; full batches do not wait for the interval.
func TestBatchIntervalFlushesPartialBatches(t *testing.T) {
	t.Run("partial batch after the interval", func(t *testing.T) {
		rc := newReceiver(t, 0)
		start := time.Now()
		r, _ := runHTTP(t, "p", 7, httpDef(rc.URL, ipc.ExportCommon{Identifier: "slow", BatchSize: 100, BatchIntervalMillis: 400}))
		exportedUpTo(t, r, 7)
		reqs := rc.requests()
		if len(reqs) != 1 || len(reqs[0].messages) != 7 {
			t.Fatalf("got %d requests, want one with the 7 messages", len(reqs))
		}
		if waited := reqs[0].at.Sub(start); waited < 400*time.Millisecond {
			t.Errorf("partial batch sent after %s, want at least the 400ms interval", waited)
		}
	})
	t.Run("full batches at once", func(t *testing.T) {
		rc := newReceiver(t, 0)
		r, _ := runHTTP(t, "f", 10, httpDef(rc.URL, ipc.ExportCommon{Identifier: "full", BatchSize: 5, BatchIntervalMillis: 3_600_000}))
		exportedUpTo(t, r, 10)
		for _, rq := range rc.requests() {
			if len(rq.messages) != 5 {
				t.Errorf("batch %d-%d has %d messages, want 5", rq.first, rq.last, len(rq.messages))
			}
		}
	})
}

// Every attempt appends one status record: failures with the error, then
// the success, for the same range.
func TestStatusStreamRecordsEveryAttempt(t *testing.T) {
	rc := newReceiver(t, 2)
	js := testBroker(t)
	ctx := t.Context()
	s, err := ensureStreams(ctx, js, "st")
	if err != nil {
		t.Fatal(err)
	}
	if err := appendMessages(ctx, js, s, "st", 5, 16); err != nil {
		t.Fatal(err)
	}
	r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName("st"), StreamName: "st",
		Definition: httpDef(rc.URL, ipc.ExportCommon{Identifier: "flaky"}), StatusPublish: statusPublisher(js), Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	exportedUpTo(t, r, 5)
	var recs []ipc.ExportAttempt
	testutil.Eventually(t, "three status records", func() error {
		recs = statusRecords(t, js)
		if len(recs) < 3 {
			return fmt.Errorf("%d records", len(recs))
		}
		return nil
	})
	for i, want := range []ipc.ExportResult{ipc.ExportFailure, ipc.ExportFailure, ipc.ExportSuccess} {
		a := recs[i]
		if a.Status != want || a.StreamName != "st" || a.ExportIdentifier != "flaky" || a.ExportType != "http" ||
			a.FirstSequenceNumber != 1 || a.LastSequenceNumber != 5 || a.MessageCount != 5 || a.Destination != rc.URL {
			t.Errorf("record %d = %+v, want %s for st/flaky 1-5", i, a, want)
		}
		if (want == ipc.ExportFailure) != strings.Contains(a.ErrorMessage, "503") {
			t.Errorf("record %d error message %q", i, a.ErrorMessage)
		}
	}
	if st := r.Status()[0]; st.ErrorMessage != "" || st.ExportedMessagesCount != 5 || st.LastExportTime == 0 {
		t.Errorf("status after success = %+v", st)
	}
}

// RAW_NOT_BATCHED posts each payload alone, keyed by its sequence number.
func TestRawNotBatchedPostsEachMessage(t *testing.T) {
	rc := newReceiver(t, 0)
	def := ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "raw"}, URI: rc.URL, ExportFormat: ipc.RawNotBatched}}}
	r, _ := runHTTP(t, "raw", 4, def)
	exportedUpTo(t, r, 4)
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, rq := range reqs {
		seq := uint64(i + 1)
		if rq.first != seq || rq.last != seq || string(rq.raw) != string(payload(seq, 16)) || rq.key != fmt.Sprintf("raw/raw/%d-%d", seq, seq) {
			t.Errorf("request %d: range %d-%d key %q body %q", i, rq.first, rq.last, rq.key, rq.raw)
		}
	}
}
