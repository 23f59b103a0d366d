package iotcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/topics"
)

// checkDelivery fails t unless got holds every one of want[topic] payloads
// in order per topic, allowing repeats only of messages already seen
// (QoS 1's at-least-once across reconnects). It returns the duplicates.
func checkDelivery(t testing.TB, got []Message, want map[string]int) int {
	t.Helper()
	next := map[string]int{}
	dups := 0
	for _, m := range got {
		n, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			continue
		}
		switch {
		case n == next[m.Topic]:
			next[m.Topic]++
		case n < next[m.Topic]:
			dups++ // resent after a reconnect
		default:
			t.Fatalf("topic %s: message %d arrived before %d (lost or out of order)", m.Topic, n, next[m.Topic])
		}
	}
	for topic, n := range want {
		if next[topic] != n {
			t.Fatalf("topic %s: %d of %d messages arrived in order", topic, next[topic], n)
		}
	}
	return dups
}

// allArrived reports whether got holds want[topic] distinct messages per topic.
func allArrived(got []Message, want map[string]int) bool {
	seen := map[string]map[string]bool{}
	for _, m := range got {
		if seen[m.Topic] == nil {
			seen[m.Topic] = map[string]bool{}
		}
		seen[m.Topic][string(m.Payload)] = true
	}
	for topic, n := range want {
		if len(seen[topic]) < n {
			return false
		}
	}
	return true
}

// The fault: the link is down while components publish QoS 1 at a
// steady rate. Nothing acknowledged is lost, each topic's order is kept,
// repeats happen only across the reconnect, and the spool stays within
// its bound. The short version cuts the link for 2 s while two topics get
// 500 msg/s each; the 10 minutes at 100 msg/s (per topic) is
//
//	SWARD_IOTCORE_LONG=1 go test -timeout 30m -run TestACutLink ./edge/iotcore/
func TestACutLinkLosesNoQoS1MessageAndKeepsTheirOrder(t *testing.T) {
	rate, outage := 500, 2*time.Second
	if os.Getenv("SWARD_IOTCORE_LONG") == "1" {
		rate, outage = 100, 10*time.Minute
	}
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	opts := cl.options(t, js)
	opts.PublishRate = -1 // drain faster than the producers (mosquitto has no IoT Core quota)
	opts.Spool.MaxBytes = int64(rate) * int64(outage/time.Second) * 200 * 2
	s := start(t, opts)
	waitConnected(t, s, true)

	topicsUsed := []string{"sward/" + thing + "/telemetry/a", "sward/" + thing + "/telemetry/b"}
	want := map[string]int{}
	var maxBytes atomic.Int64
	publish := func(d time.Duration) {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for end := time.Now().Add(d); time.Now().Before(end); {
			<-tick.C
			for _, tp := range topicsUsed {
				if err := s.Publish(context.Background(), Message{Topic: tp, Payload: []byte(strconv.Itoa(want[tp])), QoS: 1}); err != nil {
					t.Fatalf("Publish %s #%d: %v", tp, want[tp], err)
				}
				want[tp]++
			}
			if st := s.State(context.Background()); st.SpoolBytes > maxBytes.Load() {
				maxBytes.Store(st.SpoolBytes)
			}
		}
	}
	publish(500 * time.Millisecond)
	cl.link.Cut()
	publish(outage)
	if st := s.State(context.Background()); st.Connected || st.SpoolMessages == 0 {
		t.Fatalf("during the outage: %+v, want disconnected with a spool", st)
	}
	cl.link.Restore()
	publish(500 * time.Millisecond)
	// The backlog drains at several thousand msg/s: the long run needs
	// more than WaitTimeout.
	for deadline := time.Now().Add(testutil.WaitTimeout + outage/10); !allArrived(cl.watch.received(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not every message arrived within %s of the link's return", testutil.WaitTimeout+outage/10)
		}
	}
	dups := checkDelivery(t, cl.watch.received(), want)
	testutil.Until(t, "the spool to drain", func() bool { return s.State(context.Background()).SpoolMessages == 0 })
	if maxBytes.Load() > opts.Spool.MaxBytes {
		t.Errorf("spool held %d bytes, over its bound %d", maxBytes.Load(), opts.Spool.MaxBytes)
	}
	t.Logf("%v messages, %d repeated after the reconnect, spool peaked at %d bytes (bound %d)", want, dups, maxBytes.Load(), opts.Spool.MaxBytes)
}

// What Publish acknowledged while the link was down is delivered by the
// next nucleus, in order, after the broker holding the spool stopped
// (the spool's own kill -9 test shows the store keeps it through kill -9).
func TestSpooledMessagesAreDeliveredAfterARestart(t *testing.T) {
	cl := startCloud(t)
	store := t.TempDir()
	b, _, js := startJetStream(t, store)
	cl.link.Cut()
	opts := cl.options(t, js)
	opts.PublishRate = -1
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	topic := "sward/" + thing + "/telemetry/r"
	const n = 300
	for i := range n {
		if err := s.Publish(context.Background(), Message{Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1}); err != nil {
			t.Fatalf("Publish #%d: %v", i, err)
		}
	}
	_ = s.Shutdown(context.Background())
	b.Shutdown()
	b.WaitForShutdown()

	_, _, js = startJetStream(t, store)
	cl.link.Restore()
	start(t, cl.options(t, js))
	want := map[string]int{topic: n}
	testutil.Until(t, "the spooled messages at the endpoint", func() bool { return allArrived(cl.watch.received(), want) })
	checkDelivery(t, cl.watch.received(), want)
}

func TestPayloadsOverIoTCoresLimitAreRefusedWithAClearError(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	s := start(t, cl.options(t, js))
	err := s.Publish(context.Background(), Message{Topic: "big", Payload: make([]byte, MaxPayload+1), QoS: 1})
	if !errors.Is(err, ErrPayloadTooLarge) || !strings.Contains(err.Error(), "131073 bytes") || !strings.Contains(err.Error(), "128 KB") {
		t.Fatalf("Publish of 128 KB + 1: %v, want ErrPayloadTooLarge naming the size and the limit", err)
	}
	if err := s.Publish(context.Background(), Message{Topic: "big", Payload: make([]byte, MaxPayload), QoS: 1}); err != nil {
		t.Fatalf("Publish of exactly 128 KB: %v", err)
	}
	testutil.Until(t, "the 128 KB message at the endpoint", func() bool {
		got := cl.watch.received()
		return len(got) == 1 && len(got[0].Payload) == MaxPayload
	})
}

func TestBadTopicsAndQoSAreRefused(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	s := start(t, cl.options(t, js))
	for _, m := range []Message{
		{Topic: "", QoS: 1},
		{Topic: "a/+/b", QoS: 1},
		{Topic: strings.Repeat("x", MaxTopicBytes+1), QoS: 1},
		{Topic: "a", QoS: 2},
	} {
		if err := s.Publish(context.Background(), m); err == nil {
			t.Errorf("Publish on %.20q QoS %d succeeded", m.Topic, m.QoS)
		}
	}
	for _, f := range []string{"", "a/#/b", "a/b+"} {
		if _, err := s.Subscribe(context.Background(), f, 1, func(Message) {}); err == nil {
			t.Errorf("Subscribe %q succeeded", f)
		}
	}
}

// A broker that restarted without the session (sessionPresent=false)
// gets every subscription again.
func TestSubscriptionsComeBackAfterTheEndpointRestartsWithoutTheSession(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	s := start(t, cl.options(t, js))
	got := make(chan Message, 100)
	if _, err := s.Subscribe(context.Background(), "sward/"+thing+"/alerts", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, s, true)
	testutil.Until(t, "the subscription granted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conns[0].filters["sward/"+thing+"/alerts"]
	})
	cl.watch.publish(t, "sward/"+thing+"/alerts", "before")
	if m := testutil.Receive(t, got, "alert before the restart"); string(m.Payload) != "before" {
		t.Fatalf("got %q", m.Payload)
	}

	cl.mosq.Stop()
	waitConnected(t, s, false)
	cl.mosq.Start() // persistence off: the session is gone
	waitConnected(t, s, true)
	watch := newObserver(t, cl.mosq)
	testutil.Eventually(t, "an alert after the restart", func() error {
		watch.publish(t, "sward/"+thing+"/alerts", "after")
		select {
		case m := <-got:
			if string(m.Payload) != "after" {
				return fmt.Errorf("got %q", m.Payload)
			}
			return nil
		case <-time.After(100 * time.Millisecond):
			return errors.New("not received")
		}
	})
}

// Beyond MaxSubscriptions filters per connection the service opens
// another connection (ThingName#2, …), and every filter still delivers;
// the resubscription uses SUBSCRIBE packets of at most 8 filters.
func TestMoreSubscriptionsThanAConnectionMayHoldOpenAnotherConnection(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	opts := cl.options(t, js)
	opts.MaxSubscriptions = 12
	s := start(t, opts)
	got := make(chan string, 100)
	for i := range 30 {
		f := fmt.Sprintf("cmd/%d", i)
		if _, err := s.Subscribe(context.Background(), f, 1, func(m Message) { got <- m.Topic }); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.State(context.Background()).Connections; n != 3 {
		t.Fatalf("connections = %d for 30 filters at 12 each, want 3", n)
	}
	testutil.Until(t, "all filters granted", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			for _, ok := range c.filters {
				if !ok {
					return false
				}
			}
		}
		return len(s.conns) == 3
	})
	seen := map[string]bool{}
	for i := range 30 {
		cl.watch.publish(t, fmt.Sprintf("cmd/%d", i), "x")
	}
	for len(seen) < 30 {
		seen[testutil.Receive(t, got, fmt.Sprintf("messages (%d of 30 filters so far)", len(seen)))] = true
	}
}

func TestQoS0WhileOfflineIsDroppedOrKeptAsConfigured(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepQos0WhenOffline=%v", keep), func(t *testing.T) {
			cl := startCloud(t)
			_, _, js := startJetStream(t, "")
			cl.link.Cut()
			opts := cl.options(t, js)
			opts.KeepQoS0WhenOffline = keep
			s := start(t, opts)
			err := s.Publish(context.Background(), Message{Topic: "q0", Payload: []byte("0"), QoS: 0})
			if !keep {
				if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "keepQos0WhenOffline") {
					t.Fatalf("Publish QoS 0 offline: %v, want ErrOffline naming keepQos0WhenOffline", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cl.link.Restore()
			testutil.Until(t, "the kept QoS 0 message", func() bool { return allArrived(cl.watch.received(), map[string]int{"q0": 1}) })
		})
	}
}

func TestAFullRefuseNewSpoolRefusesPublishes(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	cl.link.Cut()
	opts := cl.options(t, js)
	opts.Spool = spool.Options{MaxBytes: 8192, WhenFull: spool.RefuseNew}
	s := start(t, opts)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = s.Publish(context.Background(), Message{Topic: "t", Payload: make([]byte, 500), QoS: 1})
	}
	if !errors.Is(err, spool.ErrFull) {
		t.Fatalf("Publish into a full spool: %v, want spool.ErrFull", err)
	}
}

// The state is readable, published on the bus at every change and
// exported as metrics.
func TestTheStateIsPublishedOnTheBusAndAsMetrics(t *testing.T) {
	cl := startCloud(t)
	_, nc, js := startJetStream(t, "")
	events := make(chan State, 16)
	sub, err := nc.Subscribe(topics.CloudLinkStateSubject, func(m *nats.Msg) {
		var st State
		if err := json.Unmarshal(m.Data, &st); err == nil {
			events <- st
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	opts := cl.options(t, js)
	opts.Conn = nc
	s := start(t, opts)
	if st := testutil.Receive(t, events, "connected event"); !st.Connected || st.Endpoint != opts.address() || st.ConnectedSince.IsZero() || st.ClientID != thing {
		t.Fatalf("first event %+v, want connected to %s as %s", st, opts.address(), thing)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	if v := gather(t, reg, "sward_iotcore_connected"); v != 1 {
		t.Errorf("sward_iotcore_connected = %v, want 1", v)
	}
	cl.link.Cut()
	if st := testutil.Receive(t, events, "disconnected event"); st.Connected || st.LastError == "" {
		t.Fatalf("event after the cut %+v, want disconnected with the error", st)
	}
	if err := s.Publish(context.Background(), Message{Topic: "t", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if v := gather(t, reg, "sward_iotcore_spool_messages"); v != 1 {
		t.Errorf("sward_iotcore_spool_messages = %v, want 1", v)
	}
	if v := gather(t, reg, "sward_iotcore_connected"); v != 0 {
		t.Errorf("sward_iotcore_connected = %v after the cut, want 0", v)
	}
}

func gather(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// A filter the device's policy does not allow is refused to the caller
// with an error naming it and the policy; the connection and the other
// subscriptions carry on, and a reconnect does not fail on it either.
// mosquitto grants every SUBSCRIBE of an MQTT 3.1.1 client (its ACL only
// filters deliveries), so the stand-in here is the embedded broker's MQTT
// listener with mutual TLS, which answers 0x80 as IoT Core does.
func TestARefusedSubscriptionIsAnErrorAndLeavesTheConnectionUp(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen = "127.0.0.1:-1", "127.0.0.1:-1"
	o.StoreDir = t.TempDir()
	o.TLSCert, o.TLSKey, o.TLSClientCA, o.TLSMapUsers = pki.ServerCert, pki.ServerKey, pki.CAFile, true
	o.Users = []broker.User{{Name: "CN=" + thing, Permissions: broker.Permissions{PublishAllow: []string{"sward.>"}, SubscribeAllow: []string{"sward.>"}}}}
	o.Logger = testlog.New(t)
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	testutil.RunBroker(t, b)
	_, _, js := startJetStream(t, "")
	link := testutil.StartProxy(t, b.MQTTAddr())
	s := start(t, Options{ThingName: thing, Endpoint: "127.0.0.1", Port: link.Port(), CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, JetStream: js, Logger: testlog.New(t)})
	waitConnected(t, s, true)
	got := make(chan Message, 10)
	if _, err := s.Subscribe(context.Background(), "sward/"+thing+"/alerts", 1, func(m Message) { got <- m }); err != nil {
		t.Fatalf("allowed subscription: %v", err)
	}
	_, err = s.Subscribe(context.Background(), "other/#", 1, func(Message) {})
	if err == nil || !strings.Contains(err.Error(), `"other/#"`) || !strings.Contains(err.Error(), "iot:Subscribe") {
		t.Fatalf("subscription outside the policy: %v, want an error naming the filter and the policy", err)
	}
	link.Cut()
	waitConnected(t, s, false)
	link.Restore()
	waitConnected(t, s, true)
	if err := s.Publish(context.Background(), Message{Topic: "sward/" + thing + "/alerts", Payload: []byte("loop"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if m := testutil.Receive(t, got, "a message on the allowed subscription"); string(m.Payload) != "loop" {
		t.Fatalf("got %q", m.Payload)
	}
}

// A spooled message whose publish makes IoT Core close the connection
// every time (a topic outside the device's policy) is dropped after
// MaxPublishRetry connections, with an error naming the policy, and the
// messages behind it go through.
func TestAMessageIoTCoreNeverAcceptsIsDroppedAfterMaxPublishRetry(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	b := plainBroker(t)
	port := startFront(t, pki, b.MQTTAddr(), frontOptions{Close: func(topic string) bool { return topic == "forbidden/topic" }}).Port
	_, _, js := startJetStream(t, "")
	s := start(t, Options{ThingName: thing, Endpoint: "127.0.0.1", Port: port, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxPublishRetry: 3,
		JetStream: js, Logger: testlog.New(t)})
	got := make(chan Message, 10)
	if _, err := s.Subscribe(context.Background(), "sward/#", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, s, true)
	for _, topic := range []string{"forbidden/topic", "sward/" + thing + "/after"} {
		if err := s.Publish(context.Background(), Message{Topic: topic, Payload: []byte(topic), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if m := testutil.Receive(t, got, "the message behind the refused one"); m.Topic != "sward/"+thing+"/after" {
		t.Fatalf("got %s", m.Topic)
	}
	st := s.State(context.Background())
	if s.dropped.Load() != 1 || !strings.Contains(st.LastDrop, "iot:Publish") || !strings.Contains(st.LastDrop, "message 1 dropped after 4 attempts") {
		t.Fatalf("dropped %d, last drop %q: want the refused message dropped after 4 attempts, naming the policy", s.dropped.Load(), st.LastDrop)
	}
	testutil.Until(t, "the spool to drain", func() bool { return s.State(context.Background()).SpoolMessages == 0 })
}

// A session without subscriptions gets them all again in SUBSCRIBE
// packets of at most 8 filters, IoT Core's limit per packet.
func TestResubscribingSendsAtMost8FiltersPerSubscribe(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	b := plainBroker(t)
	f := startFront(t, pki, b.MQTTAddr(), frontOptions{})
	_, _, js := startJetStream(t, "")
	s, err := New(Options{ThingName: thing, Endpoint: "127.0.0.1", Port: f.Port, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, JetStream: js, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // made before the connection: all go in the first session's resubscription
		if _, err := s.Subscribe(context.Background(), fmt.Sprintf("sward/%s/cmd/%d", thing, i), 1, func(Message) {}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	seen := map[string]bool{}
	testutil.Until(t, "20 filters subscribed", func() bool {
		clear(seen)
		for _, p := range f.subscribePackets() {
			for _, filter := range p {
				seen[filter] = true
			}
		}
		return len(seen) == 20
	})
	for _, p := range f.subscribePackets() {
		if len(p) > MaxFiltersPerSubscribe {
			t.Fatalf("a SUBSCRIBE with %d filters: %q", len(p), p)
		}
	}
	if n := len(f.subscribePackets()); n != 3 {
		t.Errorf("%d SUBSCRIBE packets for 20 filters, want 3 (8 + 8 + 4)", n)
	}
}

// Two handlers on one filter both get its messages; after one
// unsubscribes the other still does, and after both the filter is gone.
func TestUnsubscribingStopsDeliveryToThatHandlerOnly(t *testing.T) {
	cl := startCloud(t)
	_, _, js := startJetStream(t, "")
	s := start(t, cl.options(t, js))
	waitConnected(t, s, true)
	filter := "sward/" + thing + "/alerts"
	a, b := make(chan Message, 10), make(chan Message, 10)
	unsubA, err := s.Subscribe(context.Background(), filter, 1, func(m Message) { a <- m })
	if err != nil {
		t.Fatal(err)
	}
	unsubB, err := s.Subscribe(context.Background(), filter, 1, func(m Message) { b <- m })
	if err != nil {
		t.Fatal(err)
	}
	cl.watch.publish(t, filter, "1")
	testutil.Receive(t, a, "first message on handler a")
	testutil.Receive(t, b, "first message on handler b")
	if err := unsubA(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl.watch.publish(t, filter, "2")
	cl.watch.publish(t, filter, "3")
	for _, want := range []string{"2", "3"} {
		if m := testutil.Receive(t, b, "message "+want+" on handler b"); string(m.Payload) != want {
			t.Fatalf("b got %q, want %s", m.Payload, want)
		}
	}
	select { // "2" was dispatched in full before "3" reached b
	case m := <-a:
		t.Fatalf("unsubscribed handler a got %q", m.Payload)
	default:
	}
	if err := unsubB(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	_, kept := s.conns[0].filters[filter]
	s.mu.Unlock()
	if kept {
		t.Fatal("the filter is still on the connection after its last handler left")
	}
}
