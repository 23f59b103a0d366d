package topics

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTopicsFollowTheDocumentedLayout(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Telemetry("pi-1", "env"), "sward/pi-1/telemetry/env"},
		{Alerts("pi-1"), "sward/pi-1/alerts"},
		{DeploymentStatus("pi-1"), "sward/pi-1/deployments/status"},
		{Health("pi-1"), "sward/pi-1/health"},
		{FleetStatus("pi-1"), "sward/pi-1/health"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRuleSQLReadsTheTopicsTheDevicesPublish(t *testing.T) {
	const telemetry = "SELECT encode(*, 'base64') AS data, topic(2) AS thing, topic(4) AS stream, timestamp() AS receivedAt FROM 'sward/+/telemetry/+'"
	if TelemetryRuleSQL != telemetry {
		t.Errorf("TelemetryRuleSQL = %q, the contract with infra/ is %q", TelemetryRuleSQL, telemetry)
	}
	const status = "SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM 'sward/+/deployments/status'"
	if DeploymentStatusRuleSQL != status {
		t.Errorf("DeploymentStatusRuleSQL = %q, the contract with infra/ is %q", DeploymentStatusRuleSQL, status)
	}
	const fleet = "SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM 'sward/+/health'"
	if FleetStatusRuleSQL != fleet {
		t.Errorf("FleetStatusRuleSQL = %q, the contract with infra/ is %q", FleetStatusRuleSQL, fleet)
	}
}

func TestLongestTelemetryTopicFitsIoTCore(t *testing.T) {
	topic := Telemetry(strings.Repeat("t", MaxThingNameLength), strings.Repeat("s", MaxStreamLength))
	if len(topic) > 256 {
		t.Errorf("longest telemetry topic is %d bytes; IoT Core allows 256", len(topic))
	}
}

func TestNameValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		thing   string
		stream  string
		wantErr bool
	}{
		{name: "plain names", thing: "pi-1", stream: "env"},
		{name: "thing with colon and underscore", thing: "site:a_pi-1", stream: "env.v2"},
		{name: "longest names", thing: strings.Repeat("a", 128), stream: strings.Repeat("b", 64)},
		{name: "empty thing", thing: "", stream: "env", wantErr: true},
		{name: "thing with slash", thing: "a/b", stream: "env", wantErr: true},
		{name: "thing with wildcard", thing: "+", stream: "env", wantErr: true},
		{name: "thing too long", thing: strings.Repeat("a", 129), stream: "env", wantErr: true},
		{name: "empty stream", thing: "pi", stream: "", wantErr: true},
		{name: "stream with hash", thing: "pi", stream: "#", wantErr: true},
		{name: "stream with space", thing: "pi", stream: "a b", wantErr: true},
		{name: "stream too long", thing: "pi", stream: strings.Repeat("b", 65), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateThingName(tc.thing)
			if err == nil {
				err = ValidateStream(tc.stream)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// TestNameErrorsQuoteAShortValidPrefix: a long name is quoted cut short in
// the error, never in the middle of a character.
func TestNameErrorsQuoteAShortValidPrefix(t *testing.T) {
	long := "a" + strings.Repeat("é", 100) // the cut falls inside a character
	for name, validate := range map[string]func(string) error{"ValidateThingName": ValidateThingName, "ValidateStream": ValidateStream} {
		err := validate(long)
		if err == nil {
			t.Fatalf("%s accepted a 201-byte name", name)
		}
		if msg := err.Error(); !utf8.ValidString(msg) || strings.Contains(msg, `\x`) || !strings.Contains(msg, "…") || len(msg) > 200 {
			t.Errorf("%s error = %q, want a short quoted prefix of whole characters", name, msg)
		}
	}
}
