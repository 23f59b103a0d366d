package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestDevicePolicyAllowsOnlyTheThingsOwnTopics(t *testing.T) {
	const (
		arn   = "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:"
		thing = "${iot:Connection.Thing.ThingName}"
	)
	props := resource(t, "DevicePolicy")["Properties"].(map[string]any)
	if props["PolicyName"] != "SwardDevicePolicy" {
		t.Errorf("device policy name = %v, want SwardDevicePolicy", props["PolicyName"])
	}
	want := []string{
		"map[Action:iot:Connect Condition:map[Bool:map[iot:Connection.Thing.IsAttached:true]] Effect:Allow Resource:[" + arn + "client/" + thing + " " + arn + "client/" + thing + "#*]]",
		"map[Action:iot:Publish Effect:Allow Resource:[" +
			arn + "topic/sward/" + thing + "/telemetry/* " +
			arn + "topic/sward/" + thing + "/deployments/status " +
			arn + "topic/sward/" + thing + "/health " +
			arn + "topic/$aws/things/" + thing + "/shadow/* " +
			arn + "topic/$aws/things/" + thing + "/jobs/*]]",
		"map[Action:iot:Subscribe Effect:Allow Resource:[" +
			arn + "topicfilter/sward/" + thing + "/alerts " +
			arn + "topicfilter/$aws/things/" + thing + "/shadow/* " +
			arn + "topicfilter/$aws/things/" + thing + "/jobs/*]]",
		"map[Action:iot:Receive Effect:Allow Resource:[" +
			arn + "topic/sward/" + thing + "/alerts " +
			arn + "topic/$aws/things/" + thing + "/shadow/* " +
			arn + "topic/$aws/things/" + thing + "/jobs/*]]",
		"map[Action:iot:AssumeRoleWithCertificate Effect:Allow Resource:{TokenExchangeRoleAlias.RoleAliasArn}]",
	}
	doc := props["PolicyDocument"].(map[string]any)
	if doc["Version"] != "2012-10-17" {
		t.Errorf("device policy Version = %v", doc["Version"])
	}
	statements := doc["Statement"].([]any)
	if len(statements) != len(want) {
		t.Errorf("device policy has %d statements, want %d", len(statements), len(want))
	}
	for i := range min(len(statements), len(want)) {
		if got := renderStatement(statements[i]); got != want[i] {
			t.Errorf("device policy statement %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}

// renderStatement renders a policy statement with its Resource joined.
func renderStatement(s any) string {
	st := map[string]any{}
	for k, v := range s.(map[string]any) {
		st[k] = v
	}
	st["Resource"] = render(st["Resource"])
	return render(st)
}

func TestTokenExchangeRoleIsForTheCredentialsProviderAndItsAlias(t *testing.T) {
	trust := resource(t, "TokenExchangeRole")["Properties"].(map[string]any)["AssumeRolePolicyDocument"].(map[string]any)["Statement"]
	// Only this account's role alias may have the credentials provider
	// assume it (confused deputy).
	if got, want := render(trust), "[map[Action:sts:AssumeRole Condition:map[ArnEquals:map[aws:SourceArn:arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:rolealias/SwardTokenExchangeRoleAlias] StringEquals:map[aws:SourceAccount:{AWS::AccountId}]] Effect:Allow Principal:map[Service:credentials.iot.amazonaws.com]]]"; got != want {
		t.Errorf("token exchange role trust = %s, want %s", got, want)
	}
	logs := []string{"arn:{AWS::Partition}:logs:{AWS::Region}:{AWS::AccountId}:log-group:/sward/devices/*"}
	// A device writes (and reads back, and aborts uploads) only under its
	// own thing's prefix of the telemetry bucket.
	own := "{TelemetryBucket.Arn}/devices/${credentials-iot:ThingName}/*"
	assertGrants(t, "token exchange", grants(t, "TokenExchangeRole"), map[string][]string{
		"s3:GetObject":            {"{ArtifactsBucket.Arn}/*", own},
		"s3:PutObject":            {own},
		"s3:AbortMultipartUpload": {own},
		"logs:CreateLogGroup":     logs,
		"logs:CreateLogStream":    logs,
		"logs:DescribeLogStreams": logs,
		"logs:PutLogEvents":       logs,
	})
	defaultTemplate(t).HasResourceProperties(jsii.String("AWS::IoT::RoleAlias"), map[string]any{
		"RoleAlias":                 "SwardTokenExchangeRoleAlias",
		"RoleArn":                   map[string]any{"Fn::GetAtt": []any{logicalID(t, "TokenExchangeRole"), "Arn"}},
		"CredentialDurationSeconds": 3600,
	})
}

func TestThingGroupIsNamedByContext(t *testing.T) {
	def, configured := templates(t)
	def.HasResourceProperties(jsii.String("AWS::IoT::ThingGroup"), map[string]any{"ThingGroupName": "sward-devices"})
	configured.HasResourceProperties(jsii.String("AWS::IoT::ThingGroup"), map[string]any{"ThingGroupName": "test-fleet"})
}
