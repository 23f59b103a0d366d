package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/sward-iot/sward/shared/topics"
)

// Rule SQL, owned by shared/topics (the Lambdas decode exactly what it
// selects): telemetry payloads may be binary, so the rule hands the Lambda the
// payload base64-encoded, with topic(2) the thing, topic(4) the stream and
// timestamp() epoch milliseconds. The SQL version is 2016-03-23 on every rule;
// without it IoT falls back to 2015-10-08.
const (
	iotSQLVersion           = topics.SQLVersion
	telemetryRuleSQL        = topics.TelemetryRuleSQL
	deploymentEventsRuleSQL = topics.DeploymentStatusRuleSQL
	fleetStatusRuleSQL      = topics.FleetStatusRuleSQL
)

// Rule names (letters, digits and underscores only). Fixed, so that the
// Lambda permissions can name a rule's ARN without referring to the rule
// resource, and so that `aws iot get-topic-rule` finds them.
const (
	telemetryRuleName        = "sward_telemetry"
	deploymentEventsRuleName = "sward_deployment_events"
	fleetStatusRuleName      = "sward_fleet_status"
)

// rules are the IoT topic rules and where their failures go.
type rules struct {
	telemetry, deploymentEvents, fleetStatus awsiot.CfnTopicRule
	errors                                   awslogs.LogGroup
}

// newRules adds the topic rules that feed the telemetry and deployment-events
// Lambdas (the latter gets deployment status and fleet status), each with permission for IoT to invoke its Lambda from that rule
// only, and one error action for both: when an action fails (the Lambda is
// throttled or missing, say), IoT writes the failure and the original
// payload, base64, to the rule-errors log group.
func newRules(stack awscdk.Stack, fns *functions, cfg appConfig) *rules {
	r := &rules{
		errors: awslogs.NewLogGroup(stack, jsii.String("RuleErrorLogs"), &awslogs.LogGroupProps{
			Retention:     retentionDays[cfg.LogRetentionDays],
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		}),
	}
	// IoT assumes this role only for this account's rules (confused deputy).
	errorRole := awsiam.NewRole(stack, jsii.String("RuleErrorRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("Lets the Sward IoT rules write their errors to the rule-errors log group"),
	})
	// What the CloudWatch Logs rule action needs, on that log group only.
	errorPolicy := awsiam.NewPolicy(stack, jsii.String("RuleErrorPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{errorRole},
		Statements: &[]awsiam.PolicyStatement{
			allow([]string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}, *r.errors.LogGroupArn()),
		},
	})
	errorAction := &awsiot.CfnTopicRule_ActionProperty{
		CloudwatchLogs: &awsiot.CfnTopicRule_CloudwatchLogsActionProperty{
			LogGroupName: r.errors.LogGroupName(),
			RoleArn:      errorRole.RoleArn(),
		},
	}
	r.telemetry = newLambdaRule(stack, "TelemetryRule", telemetryRuleName, telemetryRuleSQL,
		"Device telemetry (sward/<thing>/telemetry/<stream>) to the telemetry Lambda", fns.telemetry, errorAction)
	r.deploymentEvents = newLambdaRule(stack, "DeploymentEventsRule", deploymentEventsRuleName, deploymentEventsRuleSQL,
		"Device deployment status (sward/<thing>/deployments/status) to the deployment-events Lambda", fns.deploymentEvents, errorAction)
	// Fleet status goes to the deployment-events Lambda too: it writes
	// the same device status table.
	r.fleetStatus = newLambdaRule(stack, "FleetStatusRule", fleetStatusRuleName, fleetStatusRuleSQL,
		"Device fleet status (sward/<thing>/health) to the deployment-events Lambda", fns.deploymentEvents, errorAction)
	// A rule must not start before it may write its errors (the role it
	// already waits for, through RoleArn).
	r.telemetry.Node().AddDependency(errorPolicy)
	r.deploymentEvents.Node().AddDependency(errorPolicy)
	r.fleetStatus.Node().AddDependency(errorPolicy)
	return r
}

// newLambdaRule adds the topic rule name whose one action invokes fn, and the
// permission for IoT to do so, scoped to this rule's ARN and the account.
func newLambdaRule(stack awscdk.Stack, id, name, sql, description string, fn awslambda.Function, errorAction *awsiot.CfnTopicRule_ActionProperty) awsiot.CfnTopicRule {
	rule := awsiot.NewCfnTopicRule(stack, jsii.String(id), &awsiot.CfnTopicRuleProps{
		RuleName: jsii.String(name),
		TopicRulePayload: &awsiot.CfnTopicRule_TopicRulePayloadProperty{
			Description:      jsii.String(description),
			Sql:              jsii.String(sql),
			AwsIotSqlVersion: jsii.String(iotSQLVersion),
			RuleDisabled:     jsii.Bool(false),
			Actions: &[]any{&awsiot.CfnTopicRule_ActionProperty{
				Lambda: &awsiot.CfnTopicRule_LambdaActionProperty{FunctionArn: fn.FunctionArn()},
			}},
			ErrorAction: errorAction,
		},
	})
	fn.AddPermission(jsii.String("InvokedBy"+id), &awslambda.Permission{
		Principal:     awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), nil),
		SourceArn:     jsii.String(iotArn(stack, "rule/"+name)),
		SourceAccount: stack.Account(),
	})
	return rule
}
