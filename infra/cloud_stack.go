package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	cloudstack "github.com/sward-iot/sward/shared/stack"
)

// CloudStackProps configures NewCloudStack. Zero fields take the defaults of
// the context values of the same names (see context.go).
type CloudStackProps struct {
	awscdk.StackProps
	// ThingGroupName is the IoT thing group that releases deploy to. It is
	// also the sward:thing-group tag on every resource of the stack.
	ThingGroupName string
	// LogRetentionDays is how long the Lambdas' and the rules' logs are kept;
	// one of the values CloudWatch Logs accepts.
	LogRetentionDays int
	// Thresholds is the telemetry Lambda's SWARD_THRESHOLDS (JSON), unset
	// when "".
	Thresholds string
	// LambdaDist holds <name>/bootstrap for each Lambda (`make lambdas`).
	LambdaDist string
	// TelemetryReservedConcurrency caps the telemetry Lambda; 0 takes the
	// default, negative reserves none.
	TelemetryReservedConcurrency int
	// HistoryRetentionDays is how long device status history is kept; 0
	// takes the default, negative keeps it forever.
	HistoryRetentionDays int
	// IoTLogLevel is IoT Core's account-wide log level ("" takes ERROR;
	// "none" leaves IoT logging alone).
	IoTLogLevel string
	// GitHubRepository ("owner/repo") may publish from its release workflow
	// on GitHubBranch ("" is main) through GitHub's OIDC provider, the one
	// of GitHubOIDCProviderArn or one the stack creates. "" makes no
	// publisher role.
	GitHubRepository, GitHubBranch, GitHubOIDCProviderArn string
}

// NewCloudStack builds Sward's cloud half as one stack: the artifacts and
// telemetry buckets and the state tables (storage.go), the three Lambdas and
// the artifacts bucket's release notification (functions.go), the IoT topic
// rules (rules.go), and what a device is given: thing group, device policy,
// token exchange role and role alias (devices.go). Its outputs are what a
// device and `sward publish` are configured with.
//
// One stack, because its parts refer to each other both ways (the artifacts
// bucket notifies the release Lambda, which reads the bucket): across stacks
// that is either a cycle or a custom resource, and exports between stacks
// freeze what they export.
func NewCloudStack(scope constructs.Construct, id string, props *CloudStackProps) awscdk.Stack {
	if props == nil {
		props = &CloudStackProps{}
	}
	cfg := appConfig{
		ThingGroupName:               props.ThingGroupName,
		LogRetentionDays:             props.LogRetentionDays,
		Thresholds:                   props.Thresholds,
		LambdaDist:                   props.LambdaDist,
		TelemetryReservedConcurrency: props.TelemetryReservedConcurrency,
		HistoryRetentionDays:         props.HistoryRetentionDays,
		IoTLogLevel:                  props.IoTLogLevel,
		GitHubRepository:             props.GitHubRepository,
		GitHubBranch:                 props.GitHubBranch,
		GitHubOIDCProviderArn:        props.GitHubOIDCProviderArn,
	}
	if cfg.GitHubBranch == "" {
		cfg.GitHubBranch = defaultGitHubBranch
	}
	if cfg.IoTLogLevel == "" {
		cfg.IoTLogLevel = defaultIoTLogLevel
	}
	switch {
	case cfg.HistoryRetentionDays == 0:
		cfg.HistoryRetentionDays = defaultHistoryRetentionDays
	case cfg.HistoryRetentionDays < 0:
		cfg.HistoryRetentionDays = 0
	}
	switch {
	case cfg.TelemetryReservedConcurrency == 0:
		cfg.TelemetryReservedConcurrency = defaultTelemetryReservedConcurrency
	case cfg.TelemetryReservedConcurrency < 0:
		cfg.TelemetryReservedConcurrency = 0
	}
	if cfg.ThingGroupName == "" {
		cfg.ThingGroupName = defaultThingGroupName
	}
	if cfg.LogRetentionDays == 0 {
		cfg.LogRetentionDays = defaultLogRetentionDays
	}
	if _, ok := retentionDays[cfg.LogRetentionDays]; !ok {
		panic(fmt.Sprintf("NewCloudStack: LogRetentionDays %d is not one of %s", cfg.LogRetentionDays, allowedRetentionDays()))
	}
	if cfg.LambdaDist == "" {
		cfg.LambdaDist = defaultLambdaDist
	}

	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	// Not on the dashboard: the CDK tags it, but CloudFormation's
	// AWS::CloudWatch::Dashboard has no Tags property (cfn-lint E3002).
	awscdk.Tags_Of(stack).Add(jsii.String("sward:thing-group"), jsii.String(cfg.ThingGroupName),
		&awscdk.TagProps{ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard")})

	st := newStorage(stack)
	fns := newFunctions(stack, st, cfg)
	addReleaseNotification(stack, st, fns.release)
	r := newRules(stack, fns, cfg)
	dev := newDevices(stack, st, cfg)
	mon := newMonitoring(stack, fns, r)
	if cfg.IoTLogLevel != "none" {
		newIoTLogging(stack, cfg.IoTLogLevel)
	}
	newTelemetryTable(stack, st)
	pub := newPublisher(stack, st, cfg)

	output := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	output(cloudstack.OutputArtifactsBucketName, st.artifacts.BucketName(), "Bucket that `sward publish` uploads recipes, artifacts and release manifests to, and devices download from")
	output("TelemetryBucketName", st.telemetry.BucketName(), "Bucket of the telemetry archive; devices may also write telemetry objects here")
	// Names that are fixed are output as the literal, not a Ref: the same
	// value, and one that moto's CloudFormation resolves too.
	output(cloudstack.OutputThingGroupName, dev.thingGroup.ThingGroupName(), "Thing group to add devices to: releases deploy to it")
	output("ThingGroupArn", jsii.String(dev.thingGroupArn), "ARN of the thing group")
	output(cloudstack.OutputDevicePolicyName, jsii.String(devicePolicyName), "IoT policy to attach to each device certificate")
	output(cloudstack.OutputRoleAliasName, jsii.String(roleAliasName), "Role alias a device exchanges its certificate for AWS credentials with (credentials provider URL .../role-aliases/<alias>/credentials)")
	output("TokenExchangeRoleAliasArn", dev.roleAlias.AttrRoleAliasArn(), "ARN of the role alias")
	output("TokenExchangeRoleArn", dev.role.RoleArn(), "Role behind the role alias: what device credentials may do")
	output(cloudstack.OutputReleasesTableName, st.releases.TableName(), "Releases and the IoT job each one created")
	output("DeviceStatusTableName", st.deviceStatus.TableName(), "Deployment status and history per device")
	output("TelemetryFunctionName", fns.telemetry.FunctionName(), "The telemetry Lambda (fed by the "+telemetryRuleName+" rule)")
	output("ReleaseFunctionName", fns.release.FunctionName(), "The release Lambda (fed by the artifacts bucket's "+releasePrefix+"…"+releaseSuffix+" notifications)")
	output("DeploymentEventsFunctionName", fns.deploymentEvents.FunctionName(), "The deployment-events Lambda (fed by the "+deploymentEventsRuleName+" rule)")
	output("AlarmTopicArn", mon.topic.TopicArn(), "SNS topic every alarm notifies: subscribe to it")
	output("DashboardName", mon.dashboard.DashboardName(), "CloudWatch dashboard of the stack's Lambdas, queues, rules and alarms")
	output("AthenaWorkGroupName", jsii.String(athenaWorkGroupName), "Athena workgroup to query the telemetry archive in (results under athena-results/ of the telemetry bucket)")
	output("TelemetryTableName", jsii.String(glueDatabaseName+"."+glueTelemetryTable), "Glue table over the telemetry archive (partition projection): SELECT … FROM "+glueDatabaseName+"."+glueTelemetryTable+" WHERE thing = '<thing>' AND date = '<YYYY-MM-DD>'")
	if pub != nil {
		output("PublisherRoleArn", pub.role.RoleArn(), "Role the release workflow of "+cfg.GitHubRepository+" ("+cfg.GitHubBranch+") assumes through GitHub OIDC: the repository variable SWARD_PUBLISHER_ROLE_ARN")
	}
	output("RuleErrorsLogGroupName", r.errors.LogGroupName(), "Where the IoT rules write failed actions, with the original payload")
	return stack
}
