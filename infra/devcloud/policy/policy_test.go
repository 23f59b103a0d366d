package policy

import (
	"errors"
	"testing"
)

// devicePolicy is the shape of SwardDevicePolicy once its ARNs are
// resolved (infra/devices.go).
const devicePolicy = `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"iot:Connect","Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}",
  "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}#*"],
  "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
 {"Effect":"Allow","Action":"iot:Publish","Resource":[
  "arn:aws:iot:us-east-1:123456789012:topic/sward/${iot:Connection.Thing.ThingName}/telemetry/*",
  "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
 {"Effect":"Allow","Action":"iot:Subscribe","Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/sward/${iot:Connection.Thing.ThingName}/alerts"]},
 {"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/sward/*/telemetry/secret"}
]}`

func TestDevicePolicyAdmitsOnlyTheThingsOwnResources(t *testing.T) {
	doc, err := Parse([]byte(devicePolicy))
	if err != nil {
		t.Fatal(err)
	}
	attached := map[string]string{VarThingName: "dev1", VarIsAttached: "true", VarClientID: "dev1"}
	detached := map[string]string{VarIsAttached: "false", VarClientID: "dev1"}
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	tests := []struct {
		name     string
		action   string
		resource string
		vars     map[string]string
		want     bool
	}{
		{"connect with client id = thing name", Connect, arn + "client/dev1", attached, true},
		{"connect with another client id", Connect, arn + "client/dev2", attached, false},
		{"a further connection thing#n", Connect, arn + "client/dev1#2", attached, true},
		{"a thing whose name starts with the thing's", Connect, arn + "client/dev10", attached, false},
		{"another thing's further connection", Connect, arn + "client/dev2#2", attached, false},
		{"connect without an attached thing", Connect, arn + "client/dev1", detached, false},
		{"publish own telemetry, any depth", Publish, arn + "topic/sward/dev1/telemetry/temp/a", attached, true},
		{"publish another thing's telemetry", Publish, arn + "topic/sward/dev2/telemetry/temp", attached, false},
		{"publish own shadow update", Publish, arn + "topic/$aws/things/dev1/shadow/update", attached, true},
		{"explicit deny wins over allow", Publish, arn + "topic/sward/dev1/telemetry/secret", attached, false},
		{"subscribe own alerts", Subscribe, arn + "topicfilter/sward/dev1/alerts", attached, true},
		{"subscribe with a wildcard is a different resource", Subscribe, arn + "topicfilter/sward/+/alerts", attached, false},
		{"an action no statement names", Receive, arn + "topic/sward/dev1/alerts", attached, false},
		{"a variable the connection lacks matches nothing", Publish, arn + "topic/sward//telemetry/x", detached, false},
		{"another account", Connect, "arn:aws:iot:us-east-1:999999999999:client/dev1", attached, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := doc.Allowed(tt.action, tt.resource, tt.vars); got != tt.want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", tt.action, tt.resource, got, tt.want)
			}
		})
	}
}

func TestEvaluateDenyInOnePolicyOverridesAllowInAnother(t *testing.T) {
	allow, err := Parse([]byte(`{"Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := Parse([]byte(`{"Statement":[{"Effect":"Deny","Action":["iot:Publish"],"Resource":"arn:aws:iot:*:*:topic/blocked"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !Evaluate([]*Document{allow, deny}, Publish, "arn:aws:iot:r:a:topic/open", nil) {
		t.Error("publish to open: want allowed by the iot:* policy")
	}
	if Evaluate([]*Document{allow, deny}, Publish, "arn:aws:iot:r:a:topic/blocked", nil) {
		t.Error("publish to blocked: want denied by the second policy")
	}
	if Evaluate(nil, Connect, "arn:aws:iot:r:a:client/x", nil) {
		t.Error("no policy: want denied")
	}
}

func TestParseRefusesWhatItDoesNotEvaluate(t *testing.T) {
	tests := []struct {
		name, doc string
		wantErr   error
	}{
		{"NotResource", `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","NotResource":"x"}]}`, ErrUnsupported},
		{"condition operator", `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}}]}`, ErrUnsupported},
		{"effect", `{"Statement":[{"Effect":"Maybe","Action":"iot:Connect","Resource":"*"}]}`, nil},
		{"not JSON", `{`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestIdentityAllowedSubstitutesTheConnectionsVariables(t *testing.T) {
	doc, err := Parse([]byte(devicePolicy))
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	thing := Identity{ThingName: "dev1", Policies: []*Document{doc}}
	if !thing.Allowed("dev1", Connect, arn+"client/dev1") {
		t.Error("thing dev1 connecting as dev1: want allowed")
	}
	if thing.Allowed("dev2", Connect, arn+"client/dev2") {
		t.Error("thing dev1 connecting as dev2: want refused")
	}
	unattached := Identity{Policies: []*Document{doc}}
	if unattached.Allowed("dev1", Connect, arn+"client/dev1") {
		t.Error("a certificate without a thing: want refused (IsAttached is false)")
	}
}
