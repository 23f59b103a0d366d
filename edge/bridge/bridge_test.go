package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

func TestALocalMqttPublishReachesIoTCoreAtQoS1UnderThePrefix(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{}
	startBridge(t, l, link, Mapping{Name: "Hello", Topic: "clients/+/hello/world", Source: LocalMqtt, Target: IotCore, TargetTopicPrefix: "dev/"})

	sensor := l.mqttClient(t, "sensor-1")
	publishMQTT(t, sensor, "clients/sensor-1/status", "not mapped")
	publishMQTT(t, sensor, "clients/sensor-1/hello/world", "hi")

	testutil.Until(t, "the mapped message at IoT Core", func() bool { return len(link.sent()) > 0 })
	got := link.sent()
	want := []iotcore.Message{{Topic: "dev/clients/sensor-1/hello/world", Payload: []byte("hi"), QoS: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("IoT Core got %v, want %v (only the mapped topic, QoS 1, prefixed)", got, want)
	}
}

func TestAnIoTCoreMessageReachesLocalMqttSubscribers(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{}
	startBridge(t, l, link, Mapping{Name: "Commands", Topic: "cmd/#", Source: IotCore, Target: LocalMqtt, TargetTopicPrefix: "cloud/"})
	msgs := subscribeMQTT(t, l.mqttClient(t, "actuator"), "cloud/cmd/#")

	link.cloudPublish("cmd/valve/open", "1")
	link.cloudPublish("cmd", "parent level") // MQTT's # matches the parent level too
	for _, want := range []received{{"cloud/cmd/valve/open", "1"}, {"cloud/cmd", "parent level"}} {
		if got := testutil.Receive(t, msgs, want.topic); got != want {
			t.Errorf("local MQTT subscriber got %v, want %v", got, want)
		}
	}
}

func TestPubsubIsTheLocalBrokerAsComponentsSeeIt(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{}
	startBridge(t, l, link,
		Mapping{Name: "Readings", Topic: "sensors/+", Source: Pubsub, Target: IotCore},
		Mapping{Name: "Events", Topic: "clients/+/detections", Source: LocalMqtt, Target: Pubsub, TargetTopicPrefix: "events/input/"},
	)
	// A component publishes with PublishToTopic: a NATS publish on sensors.t1.
	if err := l.nc.Publish("sensors.t1", []byte("21.5")); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, "the component's reading at IoT Core", func() bool { return len(link.sent()) == 1 })
	if m := link.sent()[0]; m.Topic != "sensors/t1" || string(m.Payload) != "21.5" {
		t.Errorf("IoT Core got %s %q, want sensors/t1 \"21.5\"", m.Topic, m.Payload)
	}

	// A component subscribed with SubscribeToTopic gets a device's MQTT
	// message under the prefix, marked as bridged.
	in := make(chan *nats.Msg, 10)
	sub, err := l.nc.ChanSubscribe("events.input.>", in)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	publishMQTT(t, l.mqttClient(t, "camera"), "clients/camera/detections", "cat")
	m := testutil.Receive(t, in, "the detection on events/input/…")
	if m.Subject != "events.input.clients.camera.detections" || string(m.Data) != "cat" || m.Header.Get(Header) != "Events" {
		t.Errorf("component got %s %q header %q, want events.input.clients.camera.detections \"cat\" header Events", m.Subject, m.Data, m.Header.Get(Header))
	}
}

func TestTopicsWithDotsEmptyLevelsAndDollarsKeepTheirMQTTForm(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{}
	startBridge(t, l, link,
		Mapping{Name: "All", Topic: "#", Source: LocalMqtt, Target: IotCore},
		Mapping{Name: "Down", Topic: "down/+/x", Source: IotCore, Target: LocalMqtt},
	)
	sensor := l.mqttClient(t, "sensor")
	topics := []string{"a", "temp.celsius/k1", "a//b", "$aws/things/t/shadow/update", "end"}
	for _, topic := range topics {
		publishMQTT(t, sensor, topic, topic)
	}
	testutil.Until(t, "the last message at IoT Core", func() bool {
		s := link.sent()
		return len(s) > 0 && s[len(s)-1].Topic == "end"
	})
	var got []string
	for _, m := range link.sent() {
		got = append(got, m.Topic)
	}
	// # does not match $ topics (MQTT 3.1.1, 4.7.2).
	if want := []string{"a", "temp.celsius/k1", "a//b", "end"}; !slices.Equal(got, want) {
		t.Errorf("IoT Core got topics %q, want %q", got, want)
	}

	msgs := subscribeMQTT(t, l.mqttClient(t, "listener"), "down/#")
	link.cloudPublish("down/v1.2/x", "dotted")
	if got := testutil.Receive(t, msgs, "down/v1.2/x"); got != (received{"down/v1.2/x", "dotted"}) {
		t.Errorf("local MQTT got %v, want down/v1.2/x", got)
	}
}

// LocalMqtt → IotCore and IotCore → LocalMqtt on the same topics: IoT
// Core sends the device its own publish back; the bridge drops that copy,
// and a message it published locally is not sent to IoT Core again.
func TestABridgedMessageIsNotBridgedBack(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{echo: true}
	b := startBridge(t, l, link,
		Mapping{Name: "Up", Topic: "t/#", Source: LocalMqtt, Target: IotCore},
		Mapping{Name: "Down", Topic: "t/#", Source: IotCore, Target: LocalMqtt},
	)
	device := l.mqttClient(t, "device")
	msgs := subscribeMQTT(t, device, "t/#")

	publishMQTT(t, device, "t/1", "from the device")
	first := testutil.Receive(t, msgs, "the device's own message")
	// The fake link records a publish after echoing it: once it shows,
	// a copy bridged back would already be on its way, ahead of t/2.
	testutil.Until(t, "t/1 at IoT Core", func() bool { return len(link.sent()) > 0 })
	link.cloudPublish("t/2", "from the cloud")
	link.cloudPublish("t/3", "marker")

	got := []received{first}
	for got[len(got)-1].payload != "marker" {
		got = append(got, testutil.Receive(t, msgs, "local messages up to the marker"))
	}
	want := []received{{"t/1", "from the device"}, {"t/2", "from the cloud"}, {"t/3", "marker"}}
	if !slices.Equal(got, want) {
		t.Errorf("local subscriber got %v, want each message once: %v", got, want)
	}
	var up []string
	for _, m := range link.sent() {
		up = append(up, m.Topic+" "+string(m.Payload))
	}
	if want := []string{"t/1 from the device"}; !slices.Equal(up, want) {
		t.Errorf("IoT Core got %q, want only the device's message %q", up, want)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	// Counted just after the publish the subscriber may already have.
	testutil.Eventually(t, "the counts on /metrics", func() error {
		return promtest.GatherAndCompare(reg, strings.NewReader(`
# HELP sward_bridge_echoes_total IoT Core's copies of the bridge's own publishes, dropped so they are not bridged back.
# TYPE sward_bridge_echoes_total counter
sward_bridge_echoes_total{mapping="Down"} 1
sward_bridge_echoes_total{mapping="Up"} 0
# HELP sward_bridge_messages_total Messages the MQTT bridge delivered to the mapping's target (for IotCore: into the spool).
# TYPE sward_bridge_messages_total counter
sward_bridge_messages_total{mapping="Down"} 2
sward_bridge_messages_total{mapping="Up"} 1
`), "sward_bridge_echoes_total", "sward_bridge_messages_total")
	})
}

func TestTwoLocalMappingsDoNotFeedEachOther(t *testing.T) {
	l := startLocal(t)
	startBridge(t, l, nil,
		Mapping{Name: "AtoB", Topic: "a/#", Source: LocalMqtt, Target: Pubsub, TargetTopicPrefix: "b/"},
		Mapping{Name: "BtoA", Topic: "b/#", Source: Pubsub, Target: LocalMqtt, TargetTopicPrefix: "a/"},
	)
	c := l.mqttClient(t, "c")
	msgs := subscribeMQTT(t, c, "#")
	collect := func(got []received, until string) []received {
		for !slices.ContainsFunc(got, func(r received) bool { return r.topic == until }) {
			got = append(got, testutil.Receive(t, msgs, until))
		}
		return got
	}
	publishMQTT(t, c, "a/x", "1")
	got := collect(collect(nil, "a/x"), "b/a/x")
	// BtoA has seen b/a/x by now; had it bridged it, a/b/a/x would come
	// before the marker BtoA bridges next.
	publishMQTT(t, c, "b/m", "marker")
	got = collect(collect(got, "b/m"), "a/b/m")
	// a/x → b/a/x once, b/a/x not on to a/b/a/x; the paths to the
	// subscriber race, so compare without order.
	slices.SortFunc(got, func(a, b received) int { return strings.Compare(a.topic, b.topic) })
	if want := []received{{"a/b/m", "marker"}, {"a/x", "1"}, {"b/a/x", "1"}, {"b/m", "marker"}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestALocalMappingWithoutPrefixMovesNothing(t *testing.T) {
	l := startLocal(t)
	b := startBridge(t, l, nil, Mapping{Name: "Shadows", Topic: "$aws/things/+/shadow/#", Source: LocalMqtt, Target: Pubsub})
	c := l.mqttClient(t, "c")
	msgs := subscribeMQTT(t, c, "$aws/things/+/shadow/#")
	publishMQTT(t, c, "$aws/things/t/shadow/update", "{}")
	publishMQTT(t, c, "$aws/things/t/shadow/end", "marker")
	for _, want := range []string{"{}", "marker"} {
		if got := testutil.Receive(t, msgs, want); got.payload != want {
			t.Errorf("got %v, want %q once (the message is already on the broker components read)", got, want)
		}
	}
	if s := b.Stats(); s.Bridged != 0 {
		t.Errorf("bridged %d messages, want 0", s.Bridged)
	}
}

func TestMessagesDroppedByASlowTargetAreCountedAndLogged(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{gate: make(chan struct{})}
	b := startBridge(t, l, link, Mapping{Name: "Up", Topic: "up", Source: Pubsub, Target: IotCore})
	// The target takes nothing while over 64 MiB (nats.go's pending bytes
	// limit) wait for the bridge: the client library drops the rest.
	payload := make([]byte, 1<<20)
	for range 80 {
		if err := l.nc.Publish("up", payload); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	close(link.gate)
	testutil.Eventually(t, "every message bridged or counted as dropped", func() error {
		if s, n := b.Stats(), uint64(len(link.sent())); s.Failed == 0 || s.Failed+n != 80 {
			return fmt.Errorf("%d bridged + %d counted as dropped, want some dropped and 80 in all", n, s.Failed)
		}
		return nil
	})
}

func TestAfterShutdownNothingIsBridged(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{}
	b, err := New(Options{Conn: l.nc, Link: link, Logger: testlog.New(t), Mappings: []Mapping{
		{Name: "Up", Topic: "up", Source: LocalMqtt, Target: IotCore},
		{Name: "Down", Topic: "down", Source: IotCore, Target: LocalMqtt},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := link.subscriptions(); n != 1 {
		t.Fatalf("%d IoT Core subscriptions after Start, want 1", n)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := link.subscriptions(); n != 0 {
		t.Errorf("%d IoT Core subscriptions after Shutdown, want 0", n)
	}
	if err := l.nc.Publish("up", []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := l.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // nothing to wait for: the test checks an absence
	if s := link.sent(); len(s) != 0 {
		t.Errorf("IoT Core got %v after Shutdown, want nothing", s)
	}
}

func TestARefusedIoTCoreSubscriptionFailsStartNamingTheMapping(t *testing.T) {
	l := startLocal(t)
	link := &fakeLink{refuse: "secret/#"}
	b, err := New(Options{Conn: l.nc, Link: link, Logger: testlog.New(t), Mappings: []Mapping{
		{Name: "Fine", Topic: "ok/#", Source: IotCore, Target: LocalMqtt},
		{Name: "Secret", Topic: "secret/#", Source: IotCore, Target: LocalMqtt},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `mapping "Secret"`) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Start: %v, want an error naming mapping Secret and the refusal", err)
	}
	if n := link.subscriptions(); n != 0 {
		t.Errorf("%d IoT Core subscriptions left after a failed Start, want 0", n)
	}
}

func TestBadMappingsAreRefusedNamingTheMappingAndField(t *testing.T) {
	ok := Mapping{Name: "M", Topic: "a/+/b", Source: LocalMqtt, Target: IotCore}
	with := func(f func(*Mapping)) []Mapping { m := ok; f(&m); return []Mapping{m} }
	tests := []struct {
		name     string
		mappings []Mapping
		want     string // "" for valid
	}{
		{"valid", []Mapping{ok}, ""},
		{"prefix without wildcards", with(func(m *Mapping) { m.TargetTopicPrefix = "$aws/rules/R/" }), ""},
		{"unknown source", with(func(m *Mapping) { m.Source = "Local" }), `mapping "M": source: "Local" is not one: use LocalMqtt, Pubsub or IotCore`},
		{"unknown target", with(func(m *Mapping) { m.Target = "iotcore" }), `mapping "M": target: "iotcore" is not one`},
		{"empty source", with(func(m *Mapping) { m.Source = "" }), `mapping "M": source: "" is not one`},
		{"source is target", with(func(m *Mapping) { m.Target = LocalMqtt }), `mapping "M": target: LocalMqtt is also the source`},
		{"empty topic", with(func(m *Mapping) { m.Topic = "" }), `mapping "M": topic: empty`},
		{"# not last", with(func(m *Mapping) { m.Topic = "a/#/b" }), `mapping "M": topic: "a/#/b" has # before the last level`},
		{"wildcard inside a level", with(func(m *Mapping) { m.Topic = "a/b+" }), `mapping "M": topic: "a/b+" has a wildcard inside a level`},
		{"prefix with +", with(func(m *Mapping) { m.TargetTopicPrefix = "x/+/" }), `mapping "M": targetTopicPrefix: "x/+/" has a wildcard`},
		{"prefix with #", with(func(m *Mapping) { m.TargetTopicPrefix = "#" }), `mapping "M": targetTopicPrefix: "#" has a wildcard`},
		{"no name", with(func(m *Mapping) { m.Name = "" }), `mapping "": name: empty`},
		{"name twice", []Mapping{ok, ok}, `mapping "M": name: used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.mappings)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidMapping) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want ErrInvalidMapping with %q", err, tt.want)
			}
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		err := Validate([]Mapping{{Name: "A", Topic: "#/x", Source: "x", Target: IotCore}, {Name: "B", Topic: "b", Source: IotCore, Target: IotCore}})
		for _, want := range []string{`"A": source`, `"A": topic`, `"B": target`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate: %v, want it to contain %q", err, want)
			}
		}
	})
}

func TestIoTCoreMappingsNeedTheLink(t *testing.T) {
	l := startLocal(t)
	_, err := New(Options{Conn: l.nc, Mappings: []Mapping{
		{Name: "Local", Topic: "a", Source: LocalMqtt, Target: Pubsub, TargetTopicPrefix: "b/"},
		{Name: "ToCloud", Topic: "a", Source: LocalMqtt, Target: IotCore},
		{Name: "FromCloud", Topic: "c", Source: IotCore, Target: LocalMqtt},
	}})
	for _, want := range []string{`mapping "ToCloud": target IotCore needs the link to AWS IoT Core`, `mapping "FromCloud": source IotCore needs`, "iotDataEndpoint"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want it to contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), `"Local"`) {
		t.Errorf("New: %v names the local-only mapping", err)
	}
}

func TestMQTTTopicsAndNATSSubjects(t *testing.T) {
	for _, tt := range []struct{ topic, subject string }{
		{"a/b/c", "a.b.c"}, {"temp.celsius", "temp//celsius"}, {"/leading", "/.leading"}, {"trailing/", "trailing./"}, {"a//b", "a./.b"},
	} {
		if got := subject(tt.topic); got != tt.subject {
			t.Errorf("subject(%q) = %q, want %q", tt.topic, got, tt.subject)
		}
		if got := topicOf(tt.subject); got != tt.topic {
			t.Errorf("topicOf(%q) = %q, want %q", tt.subject, got, tt.topic)
		}
	}
	for _, tt := range []struct {
		filter string
		want   []string
	}{
		{"a/+/c", []string{"a.*.c"}}, {"a/#", []string{"a", "a.>"}}, {"#", []string{">"}}, {"+/v1.0/#", []string{"*.v1//0", "*.v1//0.>"}},
	} {
		if got := subjects(tt.filter); !slices.Equal(got, tt.want) {
			t.Errorf("subjects(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
	for _, tt := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false}, {"a/#", "a", true}, {"a/#", "a/b/c", true},
		{"#", "$aws/x", false}, {"+/x", "$SYS/x", false}, {"$aws/#", "$aws/x", true}, {"a/+", "a/b/c", false},
	} {
		if got := matches(tt.filter, tt.topic); got != tt.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestEchoesAreTakenOncePerPublishAndBounded(t *testing.T) {
	ms := []Mapping{
		{Name: "Down", Topic: "t/#", Source: IotCore, Target: LocalMqtt},
		{Name: "Other", Topic: "u/#", Source: IotCore, Target: LocalMqtt},
	}
	e := newEchoes(3)
	e.expect(ms, "t/1", []byte("a"))
	e.expect(ms, "t/1", []byte("a"))
	if e.take("Other", "t/1", []byte("a")) {
		t.Error("a mapping whose filter does not match took an echo")
	}
	if e.take("Down", "t/1", []byte("b")) {
		t.Error("another payload on the topic was taken for an echo")
	}
	for i := range 2 {
		if !e.take("Down", "t/1", []byte("a")) {
			t.Errorf("echo %d of 2 not taken", i+1)
		}
	}
	if e.take("Down", "t/1", []byte("a")) {
		t.Error("a third copy taken for an echo: only two were published")
	}

	for _, p := range []string{"1", "2", "3", "4"} {
		e.expect(ms, "t/x", []byte(p))
	}
	if e.take("Down", "t/x", []byte("1")) {
		t.Error("the oldest of 4 echoes kept with a bound of 3")
	}
	if !e.take("Down", "t/x", []byte("4")) {
		t.Error("the newest echo forgotten")
	}
	e.forget(ms, "t/x", []byte("3"))
	if e.take("Down", "t/x", []byte("3")) {
		t.Error("a forgotten echo (the publish failed) taken")
	}
}
