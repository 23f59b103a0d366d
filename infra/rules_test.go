package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

func TestTopicRulesFeedTheirLambdasWithSQLVersion20160323(t *testing.T) {
	tmpl := defaultTemplate(t)
	for _, rule := range []struct{ id, name, sql, function string }{
		{"TelemetryRule", "sward_telemetry",
			"SELECT encode(*, 'base64') AS data, topic(2) AS thing, topic(4) AS stream, timestamp() AS receivedAt FROM 'sward/+/telemetry/+'",
			"TelemetryFunction"},
		{"DeploymentEventsRule", "sward_deployment_events",
			"SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM 'sward/+/deployments/status'",
			"DeploymentEventsFunction"},
		{"FleetStatusRule", "sward_fleet_status",
			"SELECT *, topic(2) AS thing, timestamp() AS receivedAt FROM 'sward/+/health'",
			"DeploymentEventsFunction"},
	} {
		tmpl.HasResourceProperties(jsii.String("AWS::IoT::TopicRule"), map[string]any{
			"RuleName": rule.name,
			"TopicRulePayload": map[string]any{
				"Sql":              rule.sql,
				"AwsIotSqlVersion": "2016-03-23",
				"RuleDisabled":     false,
				"Actions": []any{map[string]any{
					"Lambda": map[string]any{"FunctionArn": map[string]any{"Fn::GetAtt": []any{logicalID(t, rule.function), "Arn"}}},
				}},
				"ErrorAction": map[string]any{"CloudwatchLogs": map[string]any{
					"LogGroupName": map[string]any{"Ref": logicalID(t, "RuleErrorLogs")},
					"RoleArn":      map[string]any{"Fn::GetAtt": []any{logicalID(t, "RuleErrorRole"), "Arn"}},
				}},
			},
		})
		// IoT may invoke the function from this rule only, in this account.
		tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":        "lambda:InvokeFunction",
			"FunctionName":  map[string]any{"Fn::GetAtt": []any{logicalID(t, rule.function), "Arn"}},
			"Principal":     "iot.amazonaws.com",
			"SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
		})
		perm := resource(t, rule.function+"InvokedBy"+rule.id)["Properties"].(map[string]any)
		if got, want := render(perm["SourceArn"]), "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:rule/"+rule.name; got != want {
			t.Errorf("%s permission SourceArn = %s, want %s", rule.id, got, want)
		}
		// A rule starts only once it may write its errors.
		if got := render(resource(t, rule.id)["DependsOn"]); got != "["+logicalID(t, "RuleErrorPolicy")+"]" {
			t.Errorf("%s DependsOn = %s, want the rule error policy", rule.id, got)
		}
	}
}

func TestRuleErrorRoleIsForThisAccountsIoTAndWritesOnlyItsLogGroup(t *testing.T) {
	trust := resource(t, "RuleErrorRole")["Properties"].(map[string]any)["AssumeRolePolicyDocument"].(map[string]any)["Statement"]
	if got, want := render(trust), "[map[Action:sts:AssumeRole Condition:map[StringEquals:map[aws:SourceAccount:{AWS::AccountId}]] Effect:Allow Principal:map[Service:iot.amazonaws.com]]]"; got != want {
		t.Errorf("rule error role trust = %s, want %s", got, want)
	}
	logs := []string{"{RuleErrorLogs.Arn}"}
	assertGrants(t, "rule errors", grants(t, "RuleErrorRole"), map[string][]string{
		"logs:CreateLogStream":    logs,
		"logs:DescribeLogStreams": logs,
		"logs:PutLogEvents":       logs,
	})
}
