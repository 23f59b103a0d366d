package shadows

import (
	"strings"
	"testing"
	"time"
)

func TestParseTopicAcceptsOnlyRequestTopics(t *testing.T) {
	tests := []struct {
		topic, thing, name, op string
		ok                     bool
	}{
		{"$aws/things/dev1/shadow/update", "dev1", "", "update", true},
		{"$aws/things/dev1/shadow/get", "dev1", "", "get", true},
		{"$aws/things/dev1/shadow/name/cfg/delete", "dev1", "cfg", "delete", true},
		{"$aws/things/dev1/shadow/update/accepted", "", "", "", false},
		{"$aws/things/dev1/shadow/name/cfg/update/delta", "", "", "", false},
		{"$aws/things/dev1/shadow/list", "", "", "", false},
		{"$aws/things/dev1/jobs/get", "", "", "", false},
	}
	for _, tt := range tests {
		thing, name, op, ok := parseTopic(tt.topic)
		if ok != tt.ok || (ok && (thing != tt.thing || name != tt.name || op != tt.op)) {
			t.Errorf("parseTopic(%q) = %q %q %q %v, want %q %q %q %v", tt.topic, thing, name, op, ok, tt.thing, tt.name, tt.op, tt.ok)
		}
	}
}

func TestShadowsSurviveANewServiceOnTheSameFolder(t *testing.T) {
	dir := t.TempDir()
	published := map[string]string{}
	record := func(topic string, payload []byte) { published[topic] = string(payload) }
	s := New(dir, record, nil)
	s.now = func() time.Time { return time.Unix(1700000000, 0) }
	s.HandleMQTT("$aws/things/dev1/shadow/update", []byte(`{"state":{"desired":{"on":true}}}`))
	if got := published["$aws/things/dev1/shadow/update/delta"]; !strings.Contains(got, `"state":{"on":true}`) {
		t.Fatalf("delta = %q, want the desired state", got)
	}

	again := New(dir, record, nil)
	again.now = s.now
	again.HandleMQTT("$aws/things/dev1/shadow/get", nil)
	if got := published["$aws/things/dev1/shadow/get/accepted"]; !strings.Contains(got, `"version":1`) || !strings.Contains(got, `"delta":{"on":true}`) {
		t.Errorf("get after a restart = %q, want version 1 with the delta", got)
	}
	again.HandleMQTT("$aws/things/dev1/shadow/name/bad$name/get", nil)
	if got := published["$aws/things/dev1/shadow/name/bad$name/get/rejected"]; !strings.Contains(got, `"code":400`) {
		t.Errorf("get of an invalid shadow name = %q, want 400", got)
	}
}
