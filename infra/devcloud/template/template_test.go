package template

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var env = Env{Region: "eu-west-1", AccountID: "123456789012", StackName: "SwardCloud"}

// synthesized is a slice of what `cdk synth` writes for infra/devices.go:
// ARNs as Fn::Join of pseudo parameters, the role alias ARN as Fn::GetAtt.
const synthesized = `{"Resources":{
 "DevicePolicy":{"Type":"AWS::IoT::Policy","Properties":{"PolicyName":"SwardDevicePolicy","PolicyDocument":{"Statement":[
  {"Action":"iot:Connect","Effect":"Allow","Resource":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iot:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":client/${iot:Connection.Thing.ThingName}"]]}},
  {"Action":"iot:AssumeRoleWithCertificate","Effect":"Allow","Resource":{"Fn::GetAtt":["TokenExchangeRoleAlias","RoleAliasArn"]}},
  {"Action":"iot:Publish","Effect":"Allow","Resource":{"Fn::Sub":"arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/${!iot:ClientId}"}}],
  "Version":"2012-10-17"}}},
 "ThingGroup":{"Type":"AWS::IoT::ThingGroup","Properties":{"ThingGroupName":"sward-devices"}},
 "TokenExchangeRoleAlias":{"Type":"AWS::IoT::RoleAlias","Properties":{"RoleAlias":"SwardTokenExchangeRoleAlias","RoleArn":{"Fn::GetAtt":["Role","Arn"]}}},
 "Role":{"Type":"AWS::IAM::Role","Properties":{}},
 "Topic":{"Type":"AWS::SNS::Topic","Properties":{"TopicName":{"Fn::ImportValue":"ignored: not a resource devcloud reads"}}}
}}`

func TestParseResolvesTheDevicePolicyIntrinsics(t *testing.T) {
	tmpl, err := Parse([]byte(synthesized), env)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := tmpl.Policy("SwardDevicePolicy")
	if !ok {
		t.Fatalf("no SwardDevicePolicy in %+v", tmpl.Policies)
	}
	var doc struct {
		Statement []struct{ Resource string }
	}
	if err := json.Unmarshal(p.Document, &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}",
		"arn:aws:iot:eu-west-1:123456789012:rolealias/SwardTokenExchangeRoleAlias",
		"arn:aws:iot:eu-west-1:123456789012:topic/${iot:ClientId}",
	}
	for i, w := range want {
		if doc.Statement[i].Resource != w {
			t.Errorf("statement %d resource = %q, want %q", i, doc.Statement[i].Resource, w)
		}
	}
	if len(tmpl.ThingGroups) != 1 || tmpl.ThingGroups[0] != "sward-devices" {
		t.Errorf("thing groups = %v, want [sward-devices]", tmpl.ThingGroups)
	}
	want1 := RoleAlias{LogicalID: "TokenExchangeRoleAlias", Name: "SwardTokenExchangeRoleAlias", RoleArn: "arn:aws:iam::123456789012:role/Role", CredentialDurationSeconds: 3600}
	if len(tmpl.RoleAliases) != 1 || tmpl.RoleAliases[0] != want1 {
		t.Errorf("role aliases = %+v, want %+v (3600 s: CloudFormation's default)", tmpl.RoleAliases, want1)
	}
}

func TestParseNamesTheResourceOfAnUnresolvableIntrinsic(t *testing.T) {
	const tmpl = `{"Resources":{"P":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":{"Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":{"Fn::ImportValue":"Other-Stack"}}]}}}}}`
	_, err := Parse([]byte(tmpl), env)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if got := err.Error(); !contains(got, "P:") || !contains(got, "Fn::ImportValue") {
		t.Errorf("err = %q, want it to name resource P and Fn::ImportValue", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestParseKeepsTheOutputsThatResolveToAString(t *testing.T) {
	text := strings.Replace(synthesized, `{"Resources":{`, `{"Outputs":{
 "DevicePolicyName":{"Value":"SwardDevicePolicy"},
 "ThingGroupName":{"Value":{"Ref":"ThingGroup"}},
 "TokenExchangeRoleAliasArn":{"Value":{"Fn::GetAtt":["TokenExchangeRoleAlias","RoleAliasArn"]}},
 "BucketName":{"Value":{"Ref":"Bucket"}}
},"Resources":{`, 1)
	tmpl, err := Parse([]byte(text), env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DevicePolicyName":          "SwardDevicePolicy",
		"ThingGroupName":            "sward-devices",
		"TokenExchangeRoleAliasArn": "arn:aws:iot:eu-west-1:123456789012:rolealias/SwardTokenExchangeRoleAlias",
	}
	if len(tmpl.Outputs) != len(want) {
		t.Errorf("outputs = %v, want %v (a bucket Ref does not resolve here)", tmpl.Outputs, want)
	}
	for k, v := range want {
		if tmpl.Outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, tmpl.Outputs[k], v)
		}
	}
}
