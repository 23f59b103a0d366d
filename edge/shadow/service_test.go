package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"

	"github.com/nats-io/nats.go"
)

func TestNewRefusesBadOptionsNamingTheFix(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "js"))
	nc := connect(t, b)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no connection", Options{}, "Options.Conn is nil"},
		{"limit over 30 KB", Options{Conn: nc, MaxDocumentBytes: 30721}, "use 1-30720"},
		{"negative limit", Options{Conn: nc, MaxDocumentBytes: -1}, "use 1-30720"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Options{Conn: nc, MaxDocumentBytes: MaxDocumentBytesLimit}); err != nil {
		t.Fatalf("New with the 30 KB maximum: %v", err)
	}
}

// TestNATSRequestsGetTheirAnswerAsReplyAndOnTheTopics: a NATS request
// (what the CLI sends) gets the accepted or rejected document as its reply,
// and the same document is published on the AWS topic for everyone else.
func TestNATSRequestsGetTheirAnswerAsReplyAndOnTheTopics(t *testing.T) {
	_, nc, _ := newEnv(t, fixedClock())
	accepted := subscribe(t, nc, Subject("lamp", "cfg", OpUpdate, ResultAccepted))
	rejected := subscribe(t, nc, Subject("lamp", "cfg", OpUpdate, ResultRejected))
	getAcc := subscribe(t, nc, Subject("lamp", "cfg", OpGet, ResultAccepted))
	delAcc := subscribe(t, nc, Subject("lamp", "cfg", OpDelete, ResultAccepted))

	want := `{"state":{"desired":{"on":true}},"metadata":{"desired":{"on":{"timestamp":1700000000}}},"version":1,"timestamp":1700000000,"clientToken":"c1"}`
	reply := natsRequest(t, nc, Subject("lamp", "cfg", OpUpdate, ""), `{"state":{"desired":{"on":true}},"clientToken":"c1"}`)
	jsonEqual(t, "update reply", reply, want)
	jsonEqual(t, "update/accepted", testutil.Receive(t, accepted, "update/accepted").Data, want)

	reply = natsRequest(t, nc, Subject("lamp", "cfg", OpUpdate, ""), `{"state":{"desired":{"on":false}},"version":5,"clientToken":"c2"}`)
	wantRej := `{"code":409,"message":"Version conflict","timestamp":1700000000,"clientToken":"c2"}`
	jsonEqual(t, "conflict reply", reply, wantRej)
	jsonEqual(t, "update/rejected", testutil.Receive(t, rejected, "update/rejected").Data, wantRej)

	reply = natsRequest(t, nc, Subject("lamp", "cfg", OpGet, ""), `{"clientToken":"g"}`)
	if field[string](t, reply, "clientToken") != "g" || field[int](t, reply, "version") != 1 {
		t.Fatalf("get reply %s: want version 1 and clientToken g", reply)
	}
	jsonEqual(t, "get/accepted", testutil.Receive(t, getAcc, "get/accepted").Data, string(reply))

	reply = natsRequest(t, nc, Subject("lamp", "cfg", OpDelete, ""), ``)
	jsonEqual(t, "delete reply", reply, `{"version":1,"timestamp":1700000000}`)
	jsonEqual(t, "delete/accepted", testutil.Receive(t, delAcc, "delete/accepted").Data, `{"version":1,"timestamp":1700000000}`)

	reply = natsRequest(t, nc, Subject("lamp", "cfg", OpGet, ""), ``)
	jsonEqual(t, "get after delete", reply, `{"code":404,"message":"No shadow exists with name: 'cfg'","timestamp":1700000000}`)

	reply = natsRequest(t, nc, Subject("lamp", "", OpGet, ""), `{not json`)
	jsonEqual(t, "get with a malformed payload", reply, `{"code":400,"message":"Invalid JSON","timestamp":1700000000}`)
}

// TestUpdateThroughTheGoAPIPublishesLikeAnMQTTUpdate: what the IPC front
// end calls publishes accepted, delta and documents as IoT Core does.
func TestUpdateThroughTheGoAPIPublishesLikeAnMQTTUpdate(t *testing.T) {
	s, nc, _ := newEnv(t, fixedClock())
	accepted := subscribe(t, nc, Subject("dev1", "", OpUpdate, ResultAccepted))
	delta := subscribe(t, nc, Subject("dev1", "", OpUpdate, ResultDelta))
	docs := subscribe(t, nc, Subject("dev1", "", OpUpdate, ResultDocuments))

	mustUpdate(t, s, "dev1", "", `{"state":{"reported":{"color":"green","fan":1}}}`)
	jsonEqual(t, "first documents", testutil.Receive(t, docs, "documents").Data,
		`{"current":{"state":{"reported":{"color":"green","fan":1}},"metadata":{"reported":{"color":{"timestamp":1700000000},"fan":{"timestamp":1700000000}}},"version":1},"timestamp":1700000000}`)
	testutil.Receive(t, accepted, "accepted 1")

	out := mustUpdate(t, s, "dev1", "", `{"state":{"desired":{"color":"red","fan":1}},"clientToken":"app"}`)
	jsonEqual(t, "accepted 2", testutil.Receive(t, accepted, "accepted 2").Data, string(out))
	jsonEqual(t, "delta", testutil.Receive(t, delta, "delta").Data,
		`{"state":{"color":"red"},"metadata":{"color":{"timestamp":1700000000}},"version":2,"timestamp":1700000000,"clientToken":"app"}`)
	jsonEqual(t, "second documents", testutil.Receive(t, docs, "documents").Data,
		`{"previous":{"state":{"reported":{"color":"green","fan":1}},"metadata":{"reported":{"color":{"timestamp":1700000000},"fan":{"timestamp":1700000000}}},"version":1},
		  "current":{"state":{"desired":{"color":"red","fan":1},"reported":{"color":"green","fan":1}},"metadata":{"desired":{"color":{"timestamp":1700000000},"fan":{"timestamp":1700000000}},"reported":{"color":{"timestamp":1700000000},"fan":{"timestamp":1700000000}}},"version":2},
		  "timestamp":1700000000,"clientToken":"app"}`)

	// A reported update publishes no delta, even with one left: documents
	// comes after delta on the same connection, so its arrival proves it.
	mustUpdate(t, s, "dev1", "", `{"state":{"reported":{"fan":2}}}`)
	testutil.Receive(t, docs, "documents 3")
	select {
	case m := <-delta:
		t.Fatalf("a reported-only update published a delta: %s", m.Data)
	default:
	}
	// A desired update publishes the whole remaining delta.
	mustUpdate(t, s, "dev1", "", `{"state":{"desired":{"mode":"eco"}}}`)
	jsonEqual(t, "delta 4", testutil.Receive(t, delta, "delta 4").Data,
		`{"state":{"color":"red","fan":1,"mode":"eco"},"metadata":{"color":{"timestamp":1700000000},"fan":{"timestamp":1700000000},"mode":{"timestamp":1700000000}},"version":4,"timestamp":1700000000}`)
}

// TestDocumentSizeLimit: the state (desired and reported, compact JSON) may
// reach MaxDocumentBytes, not pass it, and the limit is configurable.
func TestDocumentSizeLimit(t *testing.T) {
	for _, limit := range []int{DefaultMaxDocumentBytes, MaxDocumentBytesLimit} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			opts := fixedClock()
			if limit != DefaultMaxDocumentBytes {
				opts.MaxDocumentBytes = limit
			}
			s, _, _ := newEnv(t, opts)
			// {"reported":{"a":"xxx"}} is 19 bytes of framing around the value.
			fill := strings.Repeat("x", limit-len(`{"reported":{"a":""}}`))
			mustUpdate(t, s, "big", "", `{"state":{"reported":{"a":"`+fill+`"}}}`)

			// One more byte in a second key pushes the stored state over.
			_, err := s.Update(testContext(t), "big", "", []byte(`{"state":{"reported":{"b":1}}}`))
			if !errors.Is(err, ErrTooLarge) || err.Error() != "shadow: 413 The payload exceeds the maximum size allowed" {
				t.Fatalf("update past the limit: %v, want 413", err)
			}
			if v := field[int](t, mustGet(t, s, "big", ""), "version"); v != 1 {
				t.Fatalf("version %d after a rejected update, want 1", v)
			}
			// Replacing the big value with a small one is fine.
			mustUpdate(t, s, "big", "", `{"state":{"reported":{"a":"small","b":1}}}`)
		})
	}
}

func TestRequestsPerThingAreRateLimited(t *testing.T) {
	var now atomic.Int64
	now.Store(epoch.UnixNano())
	s, nc, _ := newEnv(t, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	ctx := testContext(t)
	for i := range DefaultRequestsPerSecondPerThing {
		if _, err := s.Update(ctx, "busy", fmt.Sprint("s", i%3), []byte(`{"state":{"reported":{"i":1}}}`)); err != nil {
			t.Fatalf("request %d within the rate: %v", i, err)
		}
	}
	_, err := s.Get(ctx, "busy", "s0")
	if !errors.Is(err, ErrThrottled) || err.Error() != "shadow: 429 Too Many Requests" {
		t.Fatalf("request over the rate: %v, want 429", err)
	}
	reply := natsRequest(t, nc, Subject("busy", "", OpGet, ""), `{"clientToken":"x"}`)
	jsonEqual(t, "throttled over NATS", reply, `{"code":429,"message":"Too Many Requests","timestamp":1700000000,"clientToken":"x"}`)
	if _, err := s.Get(ctx, "quiet", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another thing is limited separately: %v, want 404", err)
	}
	now.Add(int64(100 * time.Millisecond)) // 2 tokens at 20/s
	for i := range 2 {
		if _, err := s.Get(ctx, "busy", "s0"); err != nil {
			t.Fatalf("token %d after 100 ms: %v", i, err)
		}
	}
	if _, err := s.Get(ctx, "busy", "s0"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("third request after 100 ms: %v, want 429", err)
	}
}

func TestInvalidNamesAreRejectedWithTheRule(t *testing.T) {
	s, nc, _ := newEnv(t, fixedClock())
	ctx := testContext(t)
	for _, tc := range []struct{ thing, name, want string }{
		{"", "", `Invalid thing name "": use 1-128 characters from a-z A-Z 0-9 : _ -`},
		{strings.Repeat("t", 129), "", "Invalid thing name"},
		{"bad/name", "", "Invalid thing name"},
		{"ok", strings.Repeat("s", 65), "Invalid shadow name"},
		{"ok", "dots.not.allowed", `Invalid shadow name "dots.not.allowed"`},
	} {
		_, err := s.Update(ctx, tc.thing, tc.name, []byte(`{"state":{}}`))
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Update(%q, %q): %v, want 400 containing %q", tc.thing, tc.name, err, tc.want)
		}
	}
	// A NATS subject can carry characters AWS does not allow in a name.
	reply := natsRequest(t, nc, "$aws.things.bad!thing.shadow.get", ``)
	if field[int](t, reply, "code") != 400 || !strings.Contains(field[string](t, reply, "message"), "Invalid thing name") {
		t.Fatalf("reply %s, want 400 Invalid thing name", reply)
	}
	// Names with every allowed character work, ':' included (KV keys lack it).
	mustUpdate(t, s, "arn:aws:thing_A-1", "x:y_Z-9", `{"state":{"reported":{"a":1}}}`)
	names, _, err := s.ListNamed(ctx, "arn:aws:thing_A-1", "", 0)
	if err != nil || len(names) != 1 || names[0] != "x:y_Z-9" {
		t.Fatalf("ListNamed: %v %v", names, err)
	}
}

func TestListNamedShadowsPagesThroughLiveNamesInOrder(t *testing.T) {
	s, nc, _ := newEnv(t, fixedClock())
	ctx := testContext(t)
	var want []string
	for i := range 30 {
		n := fmt.Sprintf("sh-%02d", i)
		mustUpdate(t, s, "multi", n, `{"state":{"reported":{"i":1}}}`)
		if i != 7 {
			want = append(want, n)
		}
	}
	mustUpdate(t, s, "multi", "", `{"state":{"reported":{"classic":true}}}`)
	mustUpdate(t, s, "multi-other", "not-mine", `{"state":{"reported":{"i":1}}}`)
	if _, err := s.Delete(ctx, "multi", "sh-07"); err != nil {
		t.Fatal(err)
	}
	page1, next, err := s.ListNamed(ctx, "multi", "", 0)
	if err != nil || len(page1) != DefaultPageSize || next == "" {
		t.Fatalf("page 1: %v next %q err %v", page1, next, err)
	}
	page2, next2, err := s.ListNamed(ctx, "multi", next, 0)
	if err != nil || next2 != "" {
		t.Fatalf("page 2: %v next %q err %v", page2, next2, err)
	}
	if got := strings.Join(append(page1, page2...), ","); got != strings.Join(want, ",") {
		t.Fatalf("listed %s\nwant   %s", got, strings.Join(want, ","))
	}
	none, _, err := s.ListNamed(ctx, "nobody", "", 10)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("thing without shadows: %#v %v, want an empty list", none, err)
	}
	for _, tc := range []struct {
		token string
		size  int
		want  string
	}{{"", 101, "Invalid pageSize 101"}, {"", -1, "Invalid pageSize"}, {"!!", 0, "Invalid nextToken"}} {
		if _, _, err := s.ListNamed(ctx, "multi", tc.token, tc.size); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ListNamed(token %q, size %d): %v, want %q", tc.token, tc.size, err, tc.want)
		}
	}
	// The same over NATS, as the CLI asks.
	reply := natsRequest(t, nc, SubjectList, `{"thingName":"multi","pageSize":2}`)
	jsonEqual(t, "list reply", reply, fmt.Sprintf(`{"results":["sh-00","sh-01"],"nextToken":%q,"timestamp":1700000000}`, field[string](t, reply, "nextToken")))
}

// TestConcurrentUpdatesNeverLoseOneOrGoBackwards: clients over NATS and
// through the Go API update one shadow at once. Every update lands (the
// version counts them all), each client sees its versions rise, and
// clients doing read-modify-write with "version" never lose an increment.
func TestConcurrentUpdatesNeverLoseOneOrGoBackwards(t *testing.T) {
	s, nc, _ := newEnv(t, Options{RequestsPerSecondPerThing: -1})
	const clients, perClient = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for i := range perClient {
				body := fmt.Sprintf(`{"state":{"reported":{"c%d":%d}}}`, c, i)
				var doc []byte
				var err error
				if c%2 == 0 {
					var m *nats.Msg
					m, err = nc.Request(Subject("hot", "", OpUpdate, ""), []byte(body), waitTimeout)
					if err == nil {
						doc = m.Data
					}
				} else {
					doc, err = s.Update(context.Background(), "hot", "", []byte(body))
				}
				if err != nil {
					errs <- err
					return
				}
				var r struct{ Version int }
				if json.Unmarshal(doc, &r); r.Version <= last {
					errs <- fmt.Errorf("client %d saw version %d after %d: %s", c, r.Version, last, doc)
					return
				}
				last = r.Version
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got struct {
		State   struct{ Reported map[string]int }
		Version int
	}
	json.Unmarshal(mustGet(t, s, "hot", ""), &got)
	if got.Version != clients*perClient {
		t.Fatalf("version %d after %d updates: an update was lost", got.Version, clients*perClient)
	}
	for c := range clients {
		if v := got.State.Reported[fmt.Sprint("c", c)]; v != perClient-1 {
			t.Fatalf("client %d's key is %d, want its last write %d", c, v, perClient-1)
		}
	}
	counterWithVersions(t, s, s, "counter")
}

// counterWithVersions increments a counter from several goroutines, each
// doing get → +1 → update with the version it read, retrying on 409. No
// increment may be lost. a and b may be two services on one bucket.
func counterWithVersions(t *testing.T, a, b *Service, thing string) {
	t.Helper()
	ctx := testContext(t)
	mustUpdate(t, a, thing, "", `{"state":{"reported":{"n":0}}}`)
	const workers, increments = 4, 10
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				for {
					doc, err := s.Get(ctx, thing, "")
					if err != nil {
						errs <- err
						return
					}
					var r struct {
						State   struct{ Reported struct{ N int } }
						Version int
					}
					json.Unmarshal(doc, &r)
					_, err = s.Update(ctx, thing, "", fmt.Appendf(nil, `{"state":{"reported":{"n":%d}},"version":%d}`, r.State.Reported.N+1, r.Version))
					if errors.Is(err, ErrConflict) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var r struct {
		State struct{ Reported struct{ N int } }
	}
	json.Unmarshal(mustGet(t, a, thing, ""), &r)
	if r.State.Reported.N != workers*increments {
		t.Fatalf("counter %d after %d increments (%d conflicts retried): an increment was lost", r.State.Reported.N, workers*increments, conflicts.Load())
	}
}

// TestTwoServicesOnOneBucketCompareAndSwap: in-process locks do not span
// processes; the KV compare-and-swap on the revision must. Two services on
// separate connections share the bucket, as two nucleus processes would.
func TestTwoServicesOnOneBucketCompareAndSwap(t *testing.T) {
	b, _ := startBroker(t, filepath.Join(t.TempDir(), "js"))
	a := startService(t, b, Options{RequestsPerSecondPerThing: -1})
	c := startService(t, b, Options{RequestsPerSecondPerThing: -1})
	const perService = 40
	var wg sync.WaitGroup
	for _, s := range []*Service{a, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perService {
				if _, err := s.Update(context.Background(), "shared", "", fmt.Appendf(nil, `{"state":{"reported":{"i":%d}}}`, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v := field[int](t, mustGet(t, a, "shared", ""), "version"); v != 2*perService {
		t.Fatalf("version %d after %d updates from two services: an update was lost", v, 2*perService)
	}
	counterWithVersions(t, a, c, "shared-counter")
}

// TestShadowsSurviveABrokerRestart: stop the broker and start a new one on
// the same store folder; shadows, versions and deletions are all there.
func TestShadowsSurviveABrokerRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jetstream")
	b, stop := startBroker(t, dir)
	s := startService(t, b, fixedClock())
	mustUpdate(t, s, "persist", "", `{"state":{"desired":{"a":1},"reported":{"a":0}}}`)
	mustUpdate(t, s, "persist", "", `{"state":{"reported":{"a":1}}}`)
	mustUpdate(t, s, "persist", "gone", `{"state":{"reported":{"x":1}}}`)
	mustUpdate(t, s, "persist", "gone", `{"state":{"reported":{"x":2}}}`)
	if _, err := s.Delete(testContext(t), "persist", "gone"); err != nil {
		t.Fatal(err)
	}
	before := mustGet(t, s, "persist", "")
	s.Shutdown()
	stop()

	b2, _ := startBroker(t, dir)
	s2 := startService(t, b2, fixedClock())
	if after := mustGet(t, s2, "persist", ""); string(after) != string(before) {
		t.Fatalf("after restart:\n got %s\nwant %s", after, before)
	}
	if _, err := s2.Get(testContext(t), "persist", "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted shadow after restart: %v, want 404", err)
	}
	out := mustUpdate(t, s2, "persist", "gone", `{"state":{"reported":{"x":3}}}`)
	if v := field[int](t, out, "version"); v != 3 {
		t.Fatalf("re-created shadow has version %d, want 3 (continuing after the deleted 2)", v)
	}

	// Metadata read back from the store merges like fresh metadata: only
	// the leaves written later get the later timestamp.
	mustUpdate(t, s2, "nested", "", `{"state":{"reported":{"light":{"color":"red","level":1}}}}`)
	s2.Shutdown()
	s3 := startService(t, b2, Options{Now: func() time.Time { return epoch.Add(100 * time.Second) }, RequestsPerSecondPerThing: -1})
	mustUpdate(t, s3, "nested", "", `{"state":{"reported":{"light":{"level":2}}}}`)
	jsonEqual(t, "merged after reload", mustGet(t, s3, "nested", ""),
		`{"state":{"reported":{"light":{"color":"red","level":2}}},"metadata":{"reported":{"light":{"color":{"timestamp":1700000000},"level":{"timestamp":1700000100}}}},"version":2,"timestamp":1700000100}`)
}

func TestServesOnlyBetweenStartAndShutdown(t *testing.T) {
	s, nc, b := newEnv(t, fixedClock())
	natsRequest(t, nc, Subject("t", "", OpGet, ""), ``)
	s.Shutdown()
	s.Shutdown() // twice is fine
	if _, err := nc.Request(Subject("t", "", OpGet, ""), nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request after Shutdown: %v, want no responders", err)
	}
	if _, err := s.Get(testContext(t), "t", ""); !errors.Is(err, ErrInternal) {
		t.Fatalf("Get after Shutdown: %v, want 500", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start after Shutdown succeeded; a Service starts once")
	}
	idle, err := New(Options{Conn: connect(t, b), Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Update(testContext(t), "t", "", []byte(`{"state":{}}`)); !errors.Is(err, ErrInternal) {
		t.Fatalf("Update before Start: %v, want 500", err)
	}
}

// TestRequestsNamingAComponentInboxAreNotAnswered: a request on the shadow
// topics does not say who sent it, so an answer on a component inbox could
// land in another component's; those answers go to the topics only.
func TestRequestsNamingAComponentInboxAreNotAnswered(t *testing.T) {
	_, nc, _ := newEnv(t, fixedClock())
	victim := subscribe(t, nc, ipc.InboxRoot+".victim.>")
	accepted := subscribe(t, nc, Subject("lamp", "", OpUpdate, ResultAccepted))
	if err := nc.PublishRequest(Subject("lamp", "", OpUpdate, ""), ipc.InboxRoot+".victim.1", []byte(`{"state":{"reported":{"on":true}}}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, accepted, "update/accepted")
	// The nucleus's and the CLI's inboxes are still answered. Requests of
	// one thing are served in order on one connection, so an answer on
	// the victim's inbox would have arrived before this one.
	reply := natsRequest(t, nc, Subject("lamp", "", OpGet, ""), ``)
	select {
	case m := <-victim:
		t.Fatalf("the service answered on a component inbox: %s %s", m.Subject, m.Data)
	default:
	}
	if field[int](t, reply, "version") != 1 {
		t.Fatalf("get reply %s: want version 1", reply)
	}
}
