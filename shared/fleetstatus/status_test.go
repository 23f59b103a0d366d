package fleetstatus

import (
	"errors"
	"strings"
	"testing"
)

func message() Message {
	return Message{FormatVersion: FormatVersion, Trigger: Deployment, Overall: Healthy, Sequence: 3, Timestamp: 1767225600000,
		Components: []Component{{Name: "com.example.Sensor", Version: "1.0.0", State: "RUNNING"}}}
}

func TestAMessageRoundTripsAndTheRuleEventAddsThingAndReceiveTime(t *testing.T) {
	m := message()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Trigger != Deployment || len(got.Components) != 1 || got.Components[0] != m.Components[0] {
		t.Errorf("decoded %+v, want %+v", got, m)
	}
	ev := strings.TrimSuffix(string(data), "}") + `,"thing":"pi-1","receivedAt":1767225600001}`
	e, err := DecodeEvent([]byte(ev))
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", ev, err)
	}
	if e.Thing != "pi-1" || e.ReceivedAt != 1767225600001 || e.Components[0].Name != "com.example.Sensor" {
		t.Errorf("event = %+v", e)
	}
}

func TestBadMessagesNameTheFieldAndTheFix(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Message)
		want   string
	}{
		"trigger":   {func(m *Message) { m.Trigger = "SOMETIMES" }, "trigger"},
		"overall":   {func(m *Message) { m.Overall = "FINE" }, "overallDeviceStatus"},
		"timestamp": {func(m *Message) { m.Timestamp = 1767225600 }, "epoch milliseconds"},
		"name":      {func(m *Message) { m.Components[0].Name = "" }, "components[0].componentName"},
		"version":   {func(m *Message) { m.Components[0].Version = "" }, "components[0].version"},
		"too many":  {func(m *Message) { m.Components = make([]Component, MaxComponents+1) }, "at most 250"},
	} {
		m := message()
		tc.change(&m)
		_, err := m.Encode()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalid naming %q", name, err, tc.want)
		}
	}
	if _, err := DecodeEvent([]byte(`{"formatVersion":1,"trigger":"CADENCE","overallDeviceStatus":"HEALTHY","sequenceNumber":1,"timestamp":1767225600000,"components":[]}`)); err == nil || !strings.Contains(err.Error(), "thing") {
		t.Errorf("an event without thing: error %v, want one naming thing", err)
	}
}

func TestOneBrokenOrErroredComponentMakesTheDeviceUnhealthy(t *testing.T) {
	if got := OverallOf([]Component{{State: "RUNNING"}, {State: "FINISHED"}}); got != Healthy {
		t.Errorf("running and finished: %s, want %s", got, Healthy)
	}
	for _, s := range []string{"BROKEN", "ERRORED"} {
		if got := OverallOf([]Component{{State: "RUNNING"}, {State: s}}); got != Unhealthy {
			t.Errorf("one %s: %s, want %s", s, got, Unhealthy)
		}
	}
}
