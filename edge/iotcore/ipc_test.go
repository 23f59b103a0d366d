package iotcore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/optest"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
)

const caller = "com.example.Probe"

// call runs operation name of s for caller, whose accessControl grants
// the aws.greengrass.ipc.mqttproxy policy of resources and operations.
func call(s *Service, name string, req any, operations, resources []string) (any, error) {
	return callAs(caller, s, name, req, operations, resources)
}

// callAs is call for another component.
func callAs(caller string, s *Service, name string, req any, operations, resources []string) (any, error) {
	return optest.Call(s, caller, authz.ServiceMQTTProxy, name, req, operations, resources)
}

// startLinked starts a link to the cloud stand-in that publishes its
// events on nc, and waits until it is connected.
func startLinked(t *testing.T) (*cloud, *nats.Conn, *Service) {
	t.Helper()
	c := startCloud(t)
	_, nc, js := startJetStream(t, "")
	o := c.options(t, js)
	o.Conn = nc
	s := start(t, o)
	waitConnected(t, s, true)
	return c, nc, s
}

func errCode(err error) string {
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not a wire error: " + err.Error()
}

func TestTheMQTTProxyPolicyGrantsTopicsWithGreengrassWildcards(t *testing.T) {
	pub, sub := "aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"
	tests := []struct {
		name      string
		ops       []string
		resources []string
		op        string
		topic     string
		allowed   bool
	}{
		{"exact topic", []string{pub}, []string{"sensors/kitchen"}, wire.OpPublishToIoTCore, "sensors/kitchen", true},
		{"other topic", []string{pub}, []string{"sensors/kitchen"}, wire.OpPublishToIoTCore, "sensors/garage", false},
		{"operation not granted", []string{pub}, []string{"sensors/kitchen"}, wire.OpSubscribeToIoTCore, "sensors/kitchen", false},
		{"star operation", []string{"*"}, []string{"sensors/kitchen"}, wire.OpSubscribeToIoTCore, "sensors/kitchen", true},
		{"star resource", []string{pub}, []string{"*"}, wire.OpPublishToIoTCore, "any/topic/at/all", true},
		{"star inside a resource", []string{pub}, []string{"sensors/*/temp"}, wire.OpPublishToIoTCore, "sensors/a/b/temp", true},
		{"# resource, topic below", []string{pub}, []string{"sensors/#"}, wire.OpPublishToIoTCore, "sensors/kitchen/temp", true},
		{"# resource, the parent itself", []string{pub}, []string{"sensors/#"}, wire.OpPublishToIoTCore, "sensors", true},
		{"# resource, other tree", []string{pub}, []string{"sensors/#"}, wire.OpPublishToIoTCore, "alerts/kitchen", false},
		{"+ resource, one level", []string{pub}, []string{"sensors/+/temp"}, wire.OpPublishToIoTCore, "sensors/kitchen/temp", true},
		{"+ resource, two levels", []string{pub}, []string{"sensors/+/temp"}, wire.OpPublishToIoTCore, "sensors/a/b/temp", false},
		{"subscribe to the resource's own filter", []string{sub}, []string{"sensors/+/temp"}, wire.OpSubscribeToIoTCore, "sensors/+/temp", true},
		{"subscribe + under #", []string{sub}, []string{"sensors/#"}, wire.OpSubscribeToIoTCore, "sensors/+/temp", true},
		{"subscribe # under #", []string{sub}, []string{"sensors/#"}, wire.OpSubscribeToIoTCore, "sensors/kitchen/#", true},
		{"subscribe # under + is wider", []string{sub}, []string{"sensors/+"}, wire.OpSubscribeToIoTCore, "sensors/#", false},
		{"subscribe + under a literal is wider", []string{sub}, []string{"sensors/kitchen"}, wire.OpSubscribeToIoTCore, "sensors/+", false},
		{"subscribe everything needs #", []string{sub}, []string{"sensors/#"}, wire.OpSubscribeToIoTCore, "#", false},
		{"literal ${*} is not a wildcard", []string{pub}, []string{"a/${*}"}, wire.OpPublishToIoTCore, "a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No link: a granted call gets as far as the link and is
			// answered ServiceError; a refused one is UnauthorizedError.
			_, err := call(nil, tt.op, map[string]any{"topicName": tt.topic, "qos": "1"}, tt.ops, tt.resources)
			want := wire.CodeUnauthorized
			if tt.allowed {
				want = wire.CodeService
			}
			if got := errCode(err); got != want {
				t.Errorf("%s on %q with resources %v: %s (%v), want %s", tt.op, tt.topic, tt.resources, got, err, want)
			}
		})
	}
}

func TestBadIoTCoreRequestsAreInvalidArgumentsNamingTheProblem(t *testing.T) {
	all := []string{"*"}
	tests := []struct {
		name, op string
		req      any
		wantText string
	}{
		{"QoS 2", wire.OpPublishToIoTCore, map[string]any{"topicName": "a", "qos": "2"}, `qos "2"`},
		{"QoS missing", wire.OpPublishToIoTCore, map[string]any{"topicName": "a"}, "qos is missing"},
		{"QoS as a number", wire.OpSubscribeToIoTCore, `{"topicName":"a","qos":1}`, `field "qos"`},
		{"wildcard in a publish topic", wire.OpPublishToIoTCore, map[string]any{"topicName": "a/+", "qos": "0"}, "wildcard"},
		{"empty topic", wire.OpPublishToIoTCore, map[string]any{"topicName": "", "qos": "0"}, "topic is empty"},
		{"# not last", wire.OpSubscribeToIoTCore, map[string]any{"topicName": "a/#/b", "qos": "0"}, "# must be a whole level and the last one"},
		{"payload not base64", wire.OpPublishToIoTCore, `{"topicName":"a","qos":"0","payload":"not base64!"}`, "illegal base64"},
		{"unknown field", wire.OpPublishToIoTCore, `{"topicName":"a","qos":"0","mood":"good"}`, `"mood"`},
		{"over 128 KB", wire.OpPublishToIoTCore, wire.PublishToIoTCoreRequest{TopicName: "a", QoS: "1", Payload: make([]byte, MaxPayload+1)}, "at most 131072 (128 KB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(nil, tt.op, tt.req, all, all)
			if errCode(err) != wire.CodeInvalidArguments || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("got %v, want InvalidArgumentsError containing %q", err, tt.wantText)
			}
		})
	}
}

func TestWithoutALinkTheIoTCoreOperationsNameTheConfigurationToAdd(t *testing.T) {
	for _, name := range []string{wire.OpPublishToIoTCore, wire.OpSubscribeToIoTCore} {
		_, err := call(nil, name, map[string]any{"topicName": "a", "qos": "1"}, []string{"*"}, []string{"*"})
		if errCode(err) != wire.CodeService || !strings.Contains(err.Error(), "sward run --config") || !strings.Contains(err.Error(), "iotDataEndpoint") {
			t.Errorf("%s without a link: %v, want ServiceError naming `sward run --config` and iotDataEndpoint", name, err)
		}
	}
}

func TestComponentsPublishToAndSubscribeFromIoTCoreOverTheIPC(t *testing.T) {
	c, nc, s := startLinked(t)
	all := []string{"*"}

	events := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(wire.EventSubject(caller, wire.EventIoTCoreMessage), events)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for range 2 { // twice: the second changes nothing
		if _, err := call(s, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: "alerts/+", QoS: "1"}, all, all); err != nil {
			t.Fatalf("SubscribeToIoTCore: %v", err)
		}
	}
	c.watch.publish(t, "alerts/kitchen", "smoke")
	m := testutil.Receive(t, events, "an IoTCoreMessage event")
	var ev wire.IoTCoreMessage
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Message == nil {
		t.Fatalf("event %s: %v", m.Data, err)
	}
	if ev.Message.TopicName != "alerts/kitchen" || string(ev.Message.Payload) != "smoke" || m.Header.Get(wire.HeaderTopicFilter) != "alerts/+" {
		t.Errorf("event = %+v with filter header %q, want alerts/kitchen, smoke, alerts/+", ev.Message, m.Header.Get(wire.HeaderTopicFilter))
	}
	select {
	case extra := <-events:
		t.Errorf("a second event for one message (subscribing twice must not double it): %s", extra.Data)
	case <-time.After(200 * time.Millisecond):
	}

	if _, err := call(s, wire.OpPublishToIoTCore, wire.PublishToIoTCoreRequest{TopicName: "telemetry/kitchen", QoS: "1", Payload: []byte(`{"t":21}`)}, all, all); err != nil {
		t.Fatalf("PublishToIoTCore: %v", err)
	}
	testutil.Until(t, "the cloud receives the published message", func() bool {
		for _, m := range c.watch.received() {
			if m.Topic == "telemetry/kitchen" && string(m.Payload) == `{"t":21}` {
				return true
			}
		}
		return false
	})

	s.Forget(caller)
	c.watch.publish(t, "alerts/garage", "after the session")
	select {
	case m := <-events:
		t.Errorf("event after the session ended: %s", m.Data)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestAQoS1PublishIsAnsweredOnceSpooledEvenWithTheLinkDown(t *testing.T) {
	c, _, s := startLinked(t)
	c.link.Cut()
	waitConnected(t, s, false)
	all := []string{"*"}

	if _, err := call(s, wire.OpPublishToIoTCore, wire.PublishToIoTCoreRequest{TopicName: "telemetry/offline", QoS: "1", Payload: []byte("kept")}, all, all); err != nil {
		t.Fatalf("QoS 1 PublishToIoTCore offline: %v", err)
	}
	if st := s.State(context.Background()); st.SpoolMessages != 1 {
		t.Errorf("spool holds %d messages after the answer, want 1", st.SpoolMessages)
	}
	_, err := call(s, wire.OpPublishToIoTCore, wire.PublishToIoTCoreRequest{TopicName: "telemetry/offline", QoS: "0", Payload: []byte("dropped")}, all, all)
	if errCode(err) != wire.CodeService || !strings.Contains(err.Error(), "keepQos0WhenOffline") {
		t.Errorf("QoS 0 offline: %v, want ServiceError naming keepQos0WhenOffline", err)
	}
	c.link.Restore()
	testutil.Until(t, "the spooled message reaches the cloud", func() bool {
		for _, m := range c.watch.received() {
			if m.Topic == "telemetry/offline" && string(m.Payload) == "kept" {
				return true
			}
		}
		return false
	})
}

func TestEachComponentKeepsItsOwnSubscriptionsWhenAnotherOnesSessionEnds(t *testing.T) {
	c, nc, s := startLinked(t)
	all := []string{"*"}
	other := "com.example.Other"

	mine := make(chan *nats.Msg, 16)
	theirs := make(chan *nats.Msg, 16)
	for comp, ch := range map[string]chan *nats.Msg{caller: mine, other: theirs} {
		sub, err := nc.ChanSubscribe(wire.EventSubject(comp, wire.EventIoTCoreMessage), ch)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
	}
	// caller: two overlapping filters; other: one of the same.
	for _, f := range []string{"alerts/#", "alerts/+"} {
		if _, err := call(s, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: f, QoS: "1"}, all, all); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := callAs(other, s, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: "alerts/#", QoS: "0"}, all, all); err != nil {
		t.Fatal(err)
	}
	c.watch.publish(t, "alerts/kitchen", "smoke")
	filters := map[string]bool{}
	for range 2 {
		filters[testutil.Receive(t, mine, "an event per subscription").Header.Get(wire.HeaderTopicFilter)] = true
	}
	if !filters["alerts/#"] || !filters["alerts/+"] {
		t.Errorf("events carry filters %v, want one for alerts/# and one for alerts/+", filters)
	}
	testutil.Receive(t, theirs, "the other component's event")

	s.Forget(caller)
	c.watch.publish(t, "alerts/garage", "fire")
	m := testutil.Receive(t, theirs, "the other component's event after the first one's session ended")
	if !strings.Contains(string(m.Data), `"topicName":"alerts/garage"`) {
		t.Errorf("event = %s, want alerts/garage", m.Data)
	}
	select {
	case m := <-mine:
		t.Errorf("event for a component whose session ended: %s", m.Data)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestASubscriptionIoTCoreDoesNotAnswerIsAServiceErrorWithinTheClientsTimeout(t *testing.T) {
	defer func(d time.Duration) { answerWithin = d }(answerWithin)
	answerWithin = 300 * time.Millisecond
	pki := testutil.NewPKI(t, thing)
	b := plainBroker(t)
	port := startFront(t, pki, b.MQTTAddr(), frontOptions{Swallow: func(filters []string) bool { return slices.Contains(filters, "silent/#") }}).Port
	_, nc, js := startJetStream(t, "")
	s := start(t, Options{ThingName: thing, Endpoint: "127.0.0.1", Port: port, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, JetStream: js, Conn: nc, Logger: testlog.New(t)})
	waitConnected(t, s, true)
	all := []string{"*"}

	began := time.Now()
	_, err := call(s, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: "silent/#", QoS: "1"}, all, all)
	if errCode(err) != wire.CodeService || !strings.Contains(err.Error(), "did not answer the SUBSCRIBE") {
		t.Errorf("unanswered SUBSCRIBE: %v, want ServiceError saying IoT Core did not answer", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("answered after %s, want about %s", took, answerWithin)
	}
	// Nothing is left half made: another filter is granted, and the
	// silent one can be tried again.
	if _, err := call(s, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: "loud/#", QoS: "1"}, all, all); err != nil {
		t.Errorf("SubscribeToIoTCore after a timeout: %v", err)
	}
	s.mu.Lock()
	_, kept := s.subs["silent/#"]
	s.mu.Unlock()
	if kept {
		t.Error("the unanswered subscription is still held by the link")
	}
}
