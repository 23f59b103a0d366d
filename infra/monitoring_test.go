package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// alarmOn returns the alarm of the default template whose logical id
// starts with id.
func alarmOn(t *testing.T, id string) map[string]any {
	t.Helper()
	return resource(t, id)["Properties"].(map[string]any)
}

func TestAlarmsWatchErrorsFailureQueuesThrottlesAndRuleActionsAndNotifyTheTopic(t *testing.T) {
	fn := func(id string) string { return "[map[Name:FunctionName Value:{" + id + "}]]" }
	want := map[string]string{ // alarm → namespace metric dimensions
		"TelemetryErrorsAlarm":          "AWS/Lambda Errors " + fn("TelemetryFunction"),
		"ReleaseErrorsAlarm":            "AWS/Lambda Errors " + fn("ReleaseFunction"),
		"DeploymentEventsErrorsAlarm":   "AWS/Lambda Errors " + fn("DeploymentEventsFunction"),
		"TelemetryThrottlesAlarm":       "AWS/Lambda Throttles " + fn("TelemetryFunction"),
		"TelemetryFailuresAlarm":        "AWS/SQS ApproximateNumberOfMessagesVisible [map[Name:QueueName Value:{TelemetryFunctionFailures.QueueName}]]",
		"ReleaseFailuresAlarm":          "AWS/SQS ApproximateNumberOfMessagesVisible [map[Name:QueueName Value:{ReleaseFunctionFailures.QueueName}]]",
		"DeploymentEventsFailuresAlarm": "AWS/SQS ApproximateNumberOfMessagesVisible [map[Name:QueueName Value:{DeploymentEventsFunctionFailures.QueueName}]]",
		"RuleErrorsAlarm":               "Sward RuleActionErrors <nil>",
	}
	for id, metric := range want {
		a := alarmOn(t, id)
		if got := render(a["Namespace"]) + " " + render(a["MetricName"]) + " " + render(a["Dimensions"]); got != metric {
			t.Errorf("%s watches %s, want %s", id, got, metric)
		}
		for key, v := range map[string]string{
			"ComparisonOperator": "GreaterThanThreshold", "Threshold": "0", "EvaluationPeriods": "1", "Period": "300",
			"TreatMissingData": "notBreaching", "AlarmActions": "[{AlarmTopic}]", "OKActions": "[{AlarmTopic}]",
		} {
			if got := render(a[key]); got != v {
				t.Errorf("%s %s = %s, want %s", id, key, got, v)
			}
		}
	}
}

func TestRuleErrorsAndRefusedMessagesAreCountedFromTheLogs(t *testing.T) {
	f := resource(t, "RuleActionErrors")["Properties"].(map[string]any)
	if got, want := render(f["LogGroupName"]), "{RuleErrorLogs}"; got != want {
		t.Errorf("rule errors filter on %s, want %s", got, want)
	}
	if got := render(f["MetricTransformations"]); got != "[map[MetricName:RuleActionErrors MetricNamespace:Sward MetricValue:1]]" {
		t.Errorf("rule errors metric = %s", got)
	}
	for _, id := range []string{"Telemetry", "Release", "DeploymentEvents"} {
		f := resource(t, id+"RefusedMessages")["Properties"].(map[string]any)
		if got, want := render(f["LogGroupName"]), "{"+id+"FunctionLogs}"; got != want {
			t.Errorf("%s refused-messages filter on %s, want %s", id, got, want)
		}
		if f["FilterPattern"] != refusedMessagesPattern {
			t.Errorf("%s filter pattern = %v", id, f["FilterPattern"])
		}
	}
}

func TestDashboardShowsTheAlarmsAndTheLambdas(t *testing.T) {
	body := render(resource(t, "Dashboard")["Properties"].(map[string]any)["DashboardBody"])
	for _, want := range []string{"Sward alarms", "Failure queue depth", "Refused device messages", "Failed rule actions", "alarm:Sward-TelemetryErrors", "{TelemetryFunction}"} {
		if !contains(body, want) {
			t.Errorf("dashboard body lacks %q", want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

func TestIoTLoggingIsOnAtErrorWithARoleForThisAccountOnly(t *testing.T) {
	defaultTemplate(t).HasResourceProperties(jsii.String("AWS::IoT::Logging"), map[string]any{
		"AccountId":       map[string]any{"Ref": "AWS::AccountId"},
		"DefaultLogLevel": "ERROR",
		"RoleArn":         map[string]any{"Fn::GetAtt": []any{logicalID(t, "IoTLoggingRole"), "Arn"}},
	})
	trust := resource(t, "IoTLoggingRole")["Properties"].(map[string]any)["AssumeRolePolicyDocument"].(map[string]any)["Statement"]
	if got, want := render(trust), "[map[Action:sts:AssumeRole Condition:map[StringEquals:map[aws:SourceAccount:{AWS::AccountId}]] Effect:Allow Principal:map[Service:iot.amazonaws.com]]]"; got != want {
		t.Errorf("IoT logging role trust = %s, want %s", got, want)
	}
	group := "arn:{AWS::Partition}:logs:{AWS::Region}:{AWS::AccountId}:log-group:AWSIotLogsV2"
	assertGrants(t, "IoT logging", grants(t, "IoTLoggingRole"), map[string][]string{
		"logs:CreateLogGroup":     {group},
		"logs:PutRetentionPolicy": {group},
		"logs:PutMetricFilter":    {group},
		"logs:CreateLogStream":    {group + ":*"},
		"logs:DescribeLogStreams": {group + ":*"},
		"logs:PutLogEvents":       {group + ":*"},
	})
	// "none" leaves the account's IoT logging to whoever manages it.
	app := awscdk.NewApp(nil)
	none := NewCloudStack(app, "TestNoIoTLogging", &CloudStackProps{LambdaDist: placeholderDist, IoTLogLevel: "none"})
	assertions.Template_FromStack(none, nil).ResourceCountIs(jsii.String("AWS::IoT::Logging"), jsii.Number(0))
}

func TestIoTLogLevelFromContext(t *testing.T) {
	for value, want := range map[any]string{nil: "ERROR", "WARN": "WARN", "none": "none", "DISABLED": "DISABLED", "error": "", "LOUD": "", 3.0: ""} {
		ctx := map[string]any{}
		if value != nil {
			ctx[contextIoTLogLevel] = value
		}
		got, err := iotLogLevel(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
		switch {
		case want == "" && (err == nil || !contains(err.Error(), "use one of ERROR, WARN, INFO, DEBUG, DISABLED, none")):
			t.Errorf("iotLogLevel(%v) = %q, %v; want an error listing the levels", value, got, err)
		case want != "" && (err != nil || got != want):
			t.Errorf("iotLogLevel(%v) = %q, %v; want %q", value, got, err, want)
		}
	}
}
