package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestLambdasAreGoOnArm64WithTheContractEnvironment(t *testing.T) {
	def, configured := templates(t)
	ref := func(id string) map[string]any { return map[string]any{"Ref": logicalID(t, id)} }
	for id, env := range map[string]map[string]any{
		"TelemetryFunction": {
			"SWARD_TELEMETRY_BUCKET":      ref("TelemetryBucket"),
			"SWARD_TELEMETRY_STATE_TABLE": ref("TelemetryStateTable"),
		},
		"ReleaseFunction": {
			"SWARD_RELEASES_TABLE": ref("ReleasesTable"),
			"SWARD_THING_GROUP":    "sward-devices",
		},
		"DeploymentEventsFunction": {
			"SWARD_RELEASES_TABLE":         ref("ReleasesTable"),
			"SWARD_DEVICE_STATUS_TABLE":    ref("DeviceStatusTable"),
			"SWARD_HISTORY_RETENTION_DAYS": "365",
		},
	} {
		props := resource(t, id)["Properties"].(map[string]any)
		for key, want := range map[string]string{
			"Runtime":       "provided.al2023",
			"Architectures": "[arm64]",
			"Handler":       "bootstrap",
			"Role":          "{" + id + "Role.Arn}",
			"LoggingConfig": "map[LogGroup:{" + id + "Logs}]",
		} {
			if got := render(props[key]); got != want {
				t.Errorf("%s %s = %s, want %s", id, key, got, want)
			}
		}
		// Exactly these variables: SWARD_THRESHOLDS only when configured,
		// SWARD_IOT_DATA_ENDPOINT never (the handler looks it up).
		def.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Environment": map[string]any{"Variables": assertions.Match_ObjectEquals(&env)},
		})
	}
	configured.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"SWARD_THRESHOLDS": testThresholds,
		})},
	})
}

func TestLambdasNameTheirBuildForDevcloud(t *testing.T) {
	for id, build := range map[string]string{
		"TelemetryFunction":        telemetryLambda,
		"ReleaseFunction":          releaseLambda,
		"DeploymentEventsFunction": deploymentEventsLambda,
	} {
		meta, _ := resource(t, id)["Metadata"].(map[string]any)
		if got := meta[buildMetadata]; got != build {
			t.Errorf("%s metadata %s = %v, want %s (devcloud runs dist/lambdas/%s/bootstrap)", id, buildMetadata, got, build, build)
		}
	}
}

func TestLambdaLogGroupsKeepLogsForTheConfiguredDays(t *testing.T) {
	def, configured := templates(t)
	def.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": defaultLogRetentionDays})
	configured.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 90})
}

func TestLambdaRolesGrantOnlyWhatEachHandlerDoes(t *testing.T) {
	const (
		iot     = "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:"
		bucket  = "arn:{AWS::Partition}:s3:::sward-artifacts-{AWS::AccountId}-{AWS::Region}"
		group   = iot + "thinggroup/sward-devices"
		jobs    = iot + "job/sward-*" // shared/release.JobIDPrefix
		logsRW  = "{%sLogs.Arn}"
		release = "{ReleasesTable.Arn}"
		status  = "{DeviceStatusTable.Arn}"
		state   = "{TelemetryStateTable.Arn}"
	)
	logs := func(id string) []string { return []string{strings.Replace(logsRW, "%s", id, 1)} }

	// The DynamoDB actions are exactly the calls of each handler: telemetry
	// GetItem and a conditional PutItem of its state; release UpdateItem of
	// its record; deployment-events GetItem, PutItem and UpdateItem (alone
	// and in TransactWriteItems, which has no action of its own) of the
	// device status, GetItem and UpdateItem of the release.
	assertGrants(t, "telemetry", grants(t, "TelemetryFunctionRole"), map[string][]string{
		"logs:CreateLogStream": logs("TelemetryFunction"),
		"logs:PutLogEvents":    logs("TelemetryFunction"),
		"s3:PutObject":         {"{TelemetryBucket.Arn}/*"},
		"dynamodb:GetItem":     {state},
		"dynamodb:PutItem":     {state},
		"iot:Publish":          {iot + "topic/sward/*/alerts"},
		"iot:DescribeEndpoint": {"*"},
		"sqs:SendMessage":      {"{TelemetryFunctionFailures.Arn}"},
	})
	assertGrants(t, "release", grants(t, "ReleaseFunctionRole"), map[string][]string{
		"logs:CreateLogStream":   logs("ReleaseFunction"),
		"logs:PutLogEvents":      logs("ReleaseFunction"),
		"s3:GetObject":           {bucket + "/*"},
		"s3:ListBucket":          {bucket},
		"dynamodb:GetItem":       {release},
		"dynamodb:UpdateItem":    {release},
		"iot:CreateJob":          {group, jobs},
		"iot:DescribeJob":        {jobs},
		"iot:CancelJob":          {jobs},
		"iot:DescribeThingGroup": {group},
		"sqs:SendMessage":        {"{ReleaseFunctionFailures.Arn}"},
	})
	assertGrants(t, "deployment-events", grants(t, "DeploymentEventsFunctionRole"), map[string][]string{
		"logs:CreateLogStream": logs("DeploymentEventsFunction"),
		"logs:PutLogEvents":    logs("DeploymentEventsFunction"),
		"dynamodb:GetItem":     {status, release},
		"dynamodb:PutItem":     {status},
		"dynamodb:UpdateItem":  {status, release},
		"iot:CancelJob":        {jobs},
		"sqs:SendMessage":      {"{DeploymentEventsFunctionFailures.Arn}"},
	})
}

// TestNoRoleKeepsTheOldBroadGrants names what the roles used to allow (the
// CDK's table grants, any job of the account, any telemetry object for
// devices) and checks that no policy of the stack allows it any more.
func TestNoRoleKeepsTheOldBroadGrants(t *testing.T) {
	broad := map[string]func(role, resource string) bool{
		"dynamodb:Scan":           func(string, string) bool { return true },
		"dynamodb:Query":          func(string, string) bool { return true },
		"dynamodb:BatchWriteItem": func(string, string) bool { return true },
		"dynamodb:BatchGetItem":   func(string, string) bool { return true },
		"dynamodb:DeleteItem":     func(string, string) bool { return true },
		"dynamodb:DescribeTable":  func(string, string) bool { return true },
		"iot:CancelJob":           func(_, r string) bool { return strings.HasSuffix(r, ":job/*") },
		"iot:CreateJob":           func(_, r string) bool { return strings.HasSuffix(r, ":job/*") },
		"iot:DescribeJob":         func(_, r string) bool { return strings.HasSuffix(r, ":job/*") },
		// The telemetry Lambda writes the whole archive; devices, their own
		// prefix only.
		"s3:PutObject": func(role, r string) bool { return role == "TokenExchangeRole" && r == "{TelemetryBucket.Arn}/*" },
	}
	for _, role := range []string{"TelemetryFunctionRole", "ReleaseFunctionRole", "DeploymentEventsFunctionRole", "TokenExchangeRole", "RuleErrorRole"} {
		for action, resources := range grants(t, role) {
			for _, r := range resources {
				if isBroad, ok := broad[action]; ok && isBroad(role, r) {
					t.Errorf("%s still allows %s on %s", role, action, r)
				}
			}
		}
	}
}

func TestLambdaRolesHaveNoManagedPolicies(t *testing.T) {
	// AWSLambdaBasicExecutionRole would allow writing to every log group.
	for _, id := range []string{"TelemetryFunctionRole", "ReleaseFunctionRole", "DeploymentEventsFunctionRole"} {
		props := resource(t, id)["Properties"].(map[string]any)
		if mp, ok := props["ManagedPolicyArns"]; ok {
			t.Errorf("%s has managed policies %s", id, render(mp))
		}
		if got, want := render(props["AssumeRolePolicyDocument"].(map[string]any)["Statement"]), "[map[Action:sts:AssumeRole Effect:Allow Principal:map[Service:lambda.amazonaws.com]]]"; got != want {
			t.Errorf("%s trust = %s, want %s", id, got, want)
		}
	}
}

func TestArtifactsBucketNotifiesTheReleaseLambdaOfReleaseManifests(t *testing.T) {
	bucket := resource(t, "ArtifactsBucket")
	defaultTemplate(t).HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"NotificationConfiguration": map[string]any{
			"LambdaConfigurations": []any{map[string]any{
				"Event":    "s3:ObjectCreated:*",
				"Function": map[string]any{"Fn::GetAtt": []any{logicalID(t, "ReleaseFunction"), "Arn"}},
				"Filter": map[string]any{"S3Key": map[string]any{"Rules": []any{
					map[string]any{"Name": "prefix", "Value": "releases/"},
					map[string]any{"Name": "suffix", "Value": "release.json"},
				}}},
			}},
		},
	})
	if _, ok := bucket["Properties"].(map[string]any)["NotificationConfiguration"]; !ok {
		t.Fatal("the notification is not on the artifacts bucket")
	}
	// S3 refuses the notification unless it may already invoke the function.
	if got := render(bucket["DependsOn"]); got != "[ReleaseFunctionInvokedByArtifactsBucket]" {
		t.Errorf("artifacts bucket DependsOn = %s, want [ReleaseFunctionInvokedByArtifactsBucket]", got)
	}
	perm := resource(t, "ReleaseFunctionInvokedByArtifactsBucket")["Properties"].(map[string]any)
	for key, want := range map[string]string{
		"Action":        "lambda:InvokeFunction",
		"FunctionName":  "{ReleaseFunction.Arn}",
		"Principal":     "s3.amazonaws.com",
		"SourceAccount": "{AWS::AccountId}",
		"SourceArn":     "arn:{AWS::Partition}:s3:::sward-artifacts-{AWS::AccountId}-{AWS::Region}",
	} {
		if got := render(perm[key]); got != want {
			t.Errorf("release permission %s = %s, want %s", key, got, want)
		}
	}
}

func TestAppRefusesToSynthWithoutTheLambdaBuilds(t *testing.T) {
	dist := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dist, "telemetry"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "telemetry", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := newApp(&awscdk.AppProps{Context: &map[string]any{contextLambdaDist: dist}})
	if err == nil {
		t.Fatal("newApp with release and deployment-events missing succeeded")
	}
	for _, want := range []string{"make lambdas", filepath.Join(dist, "release", "bootstrap"), filepath.Join(dist, "deployment-events", "bootstrap")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), filepath.Join(dist, "telemetry")) {
		t.Errorf("error %q names the telemetry build, which is there", err)
	}
}

func TestEveryLambdaSendsFailedAsyncEventsToAnEncryptedQueueWithAnAlarm(t *testing.T) {
	tmpl := defaultTemplate(t)
	for _, id := range []string{"TelemetryFunction", "ReleaseFunction", "DeploymentEventsFunction"} {
		cfg := resource(t, id+"AsyncInvoke")["Properties"].(map[string]any)
		if got, want := render(cfg), "map[DestinationConfig:map[OnFailure:map[Destination:{"+id+"Failures.Arn}]] FunctionName:{"+id+"} MaximumRetryAttempts:2 Qualifier:$LATEST]"; got != want {
			t.Errorf("%s async invoke config = %s, want %s", id, got, want)
		}
		// Lambda checks SendMessage when the configuration is created.
		if deps := render(resource(t, id+"AsyncInvoke")["DependsOn"]); !strings.Contains(deps, id+"RoleDefaultPolicy") {
			t.Errorf("%s async invoke config DependsOn %s, want the role's policy", id, deps)
		}
		q := resource(t, id+"Failures")["Properties"].(map[string]any)
		if q["SqsManagedSseEnabled"] != true || q["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("%s failure queue = %s, want SQS-managed encryption and 14 days' retention", id, render(q))
		}
		tmpl.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
			"Queues": []any{map[string]any{"Ref": logicalID(t, id+"Failures")}},
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			})})},
		})
		tmpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"Namespace":          "AWS/SQS",
			"MetricName":         "ApproximateNumberOfMessagesVisible",
			"Dimensions":         []any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{logicalID(t, id+"Failures"), "QueueName"}}}},
			"ComparisonOperator": "GreaterThanThreshold",
			"Threshold":          0,
			"AlarmActions":       []any{map[string]any{"Ref": logicalID(t, "AlarmTopic")}},
			"AlarmName":          "Sward-" + strings.TrimSuffix(id, "Function") + "Failures",
		})
	}
}

func TestOnlyTheTelemetryLambdaHasReservedConcurrency(t *testing.T) {
	for id, want := range map[string]any{"TelemetryFunction": float64(defaultTelemetryReservedConcurrency), "ReleaseFunction": nil, "DeploymentEventsFunction": nil} {
		if got := resource(t, id)["Properties"].(map[string]any)["ReservedConcurrentExecutions"]; got != want {
			t.Errorf("%s ReservedConcurrentExecutions = %v, want %v", id, got, want)
		}
	}
	app := awscdk.NewApp(nil)
	none := NewCloudStack(app, "TestUnreserved", &CloudStackProps{LambdaDist: placeholderDist, TelemetryReservedConcurrency: -1})
	for _, r := range *assertions.Template_FromStack(none, nil).FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		if v, ok := (*r)["Properties"].(map[string]any)["ReservedConcurrentExecutions"]; ok {
			t.Errorf("with reservation off, a function reserves %v", v)
		}
	}
}
