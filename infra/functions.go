package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/sward-iot/sward/shared/release"
)

// Lambda names: the folders of their sources (lambdas/cmd/<name>) and of what
// `make lambdas` builds from them (dist/lambdas/<name>/bootstrap).
const (
	telemetryLambda        = "telemetry"
	releaseLambda          = "release"
	deploymentEventsLambda = "deployment-events"
)

var lambdaNames = []string{telemetryLambda, releaseLambda, deploymentEventsLambda}

// lambdaIDs are the functions' construct ids (without "Function").
var lambdaIDs = map[string]string{telemetryLambda: "Telemetry", releaseLambda: "Release", deploymentEventsLambda: "DeploymentEvents"}

// buildMetadata is the function metadata key naming the function's build
// (its folder under lambdaDist): devcloud finds the bootstrap it runs by it.
const buildMetadata = "sward:lambda"

// Environment variables the handlers read (the contract with lambdas/).
const (
	envTelemetryBucket     = "SWARD_TELEMETRY_BUCKET"
	envTelemetryStateTable = "SWARD_TELEMETRY_STATE_TABLE"
	envThresholds          = "SWARD_THRESHOLDS"
	envReleasesTable       = "SWARD_RELEASES_TABLE"
	envDeviceStatusTable   = "SWARD_DEVICE_STATUS_TABLE"
	envHistoryRetention    = "SWARD_HISTORY_RETENTION_DAYS"
	envThingGroup          = "SWARD_THING_GROUP"
)

// Release notification filter: `sward publish` writes the release manifest
// last, as releases/<commit>/release.json, once every recipe and artifact it
// names is in place.
const (
	releasePrefix = "releases/"
	releaseSuffix = "release.json"
)

// asyncRetries is how often Lambda retries a failed asynchronous invocation
// (an IoT rule's or S3's) before handing the event to the function's
// failure queue: Lambda's default, made explicit. Two retries, about a
// minute and three apart, outlast a DynamoDB or IoT throttling burst; an
// event that fails three times needs a person.
const asyncRetries = 2

// failureRetentionDays keeps failed events in a failure queue for 14 days,
// SQS's longest: time to notice the alarm, fix the cause and redrive.
const failureRetentionDays = 14

// telemetryReservedConcurrency caps the telemetry Lambda. It is the one
// whose load is the fleet's: every device message is an invocation, and a
// device publishing in a loop (or a whole fleet reconnecting and flushing its
// buffers) could otherwise take the account's concurrency from the
// deployment-events Lambda in the middle of a rollout, and from every other
// function of the account. Throttled asynchronous events are not lost:
// Lambda keeps them and retries for up to six hours. 100 leaves 900 of the
// default regional limit of 1,000; the telemetryReservedConcurrency context
// value changes it, 0 for none (an account whose limit is still 10 can
// reserve nothing). The release Lambda runs once per publish and the
// deployment-events Lambda once per status message of a rollout; capping
// them would only delay rollouts.
const defaultTelemetryReservedConcurrency = 100

// functions are the three Lambdas and the queues their failed asynchronous
// invocations go to.
type functions struct {
	telemetry, release, deploymentEvents awslambda.Function
	// failures maps each function's name (telemetryLambda, …) to its
	// on-failure destination queue, and logs to its log group.
	failures map[string]awssqs.Queue
	logs     map[string]awslogs.LogGroup
}

// functionSpec is what differs between the three Lambdas.
type functionSpec struct {
	id, name, description string
	// memoryMB also buys CPU: Lambda allots CPU in proportion to memory.
	memoryMB float64
	timeout  awscdk.Duration
	env      map[string]*string
	// reservedConcurrency caps the function; 0 leaves it unreserved.
	reservedConcurrency int
}

// checkLambdaDist reports which of the Lambda builds is missing from dist, so
// that synth fails with the fix instead of the CDK's "Cannot find asset".
func checkLambdaDist(dist string) error {
	var missing []error
	for _, name := range lambdaNames {
		p := filepath.Join(dist, name, "bootstrap")
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%s is missing", p)
			}
			missing = append(missing, err)
		}
	}
	if missing != nil {
		return fmt.Errorf("lambda builds not found (run `make lambdas`, or point the %s context value at a folder of <name>/bootstrap): %w",
			contextLambdaDist, errors.Join(missing...))
	}
	return nil
}

// newFunctions adds the three Lambdas, each with its own role granting only
// what its handler does, and its own log group.
func newFunctions(stack awscdk.Stack, st *storage, cfg appConfig) *functions {
	telemetryEnv := map[string]*string{
		envTelemetryBucket:     st.telemetry.BucketName(),
		envTelemetryStateTable: st.telemetryState.TableName(),
	}
	if cfg.Thresholds != "" {
		telemetryEnv[envThresholds] = jsii.String(cfg.Thresholds)
	}
	f := &functions{failures: map[string]awssqs.Queue{}, logs: map[string]awslogs.LogGroup{}}
	// Telemetry runs once per message: small and short, so that a stuck
	// call fails before the next messages queue up behind it.
	f.telemetry = f.newFunction(stack, cfg, functionSpec{
		id: lambdaIDs[telemetryLambda] + "Function", name: telemetryLambda,
		description: "Archives device telemetry to S3 and publishes alerts back to the device",
		memoryMB:    256, timeout: awscdk.Duration_Seconds(jsii.Number(15)),
		env:                 telemetryEnv,
		reservedConcurrency: cfg.TelemetryReservedConcurrency,
	})
	// Release reads the manifest and HEADs every object it names (with
	// checksums) before creating the job: a large release is many
	// requests, hence the longer timeout.
	f.release = f.newFunction(stack, cfg, functionSpec{
		id: lambdaIDs[releaseLambda] + "Function", name: releaseLambda,
		description: "Validates a published release and creates the IoT Job for the thing group",
		memoryMB:    256, timeout: awscdk.Duration_Seconds(jsii.Number(120)),
		// The managed group: the handler rejects (and records) a manifest
		// for any other one instead of failing on IAM's AccessDenied.
		env: map[string]*string{envReleasesTable: st.releases.TableName(), envThingGroup: jsii.String(cfg.ThingGroupName)},
	})
	eventsEnv := map[string]*string{
		envReleasesTable:     st.releases.TableName(),
		envDeviceStatusTable: st.deviceStatus.TableName(),
	}
	if cfg.HistoryRetentionDays > 0 {
		eventsEnv[envHistoryRetention] = jsii.String(strconv.Itoa(cfg.HistoryRetentionDays))
	}
	f.deploymentEvents = f.newFunction(stack, cfg, functionSpec{
		id: lambdaIDs[deploymentEventsLambda] + "Function", name: deploymentEventsLambda,
		description: "Records device deployment status and cancels a failing rollout",
		memoryMB:    256, timeout: awscdk.Duration_Seconds(jsii.Number(30)),
		env: eventsEnv,
	})

	// telemetry: archive objects, keep its state (GetItem, then a
	// conditional PutItem), publish alerts, and find the IoT data endpoint
	// at cold start (DescribeEndpoint has no resource).
	f.telemetry.AddToRolePolicy(allow([]string{"s3:PutObject"}, *st.telemetry.ArnForObjects(jsii.String("*"))))
	f.telemetry.AddToRolePolicy(allow([]string{"dynamodb:GetItem", "dynamodb:PutItem"}, *st.telemetryState.TableArn()))
	f.telemetry.AddToRolePolicy(allow([]string{"iot:Publish"}, iotArn(stack, "topic/sward/*/alerts")))
	f.telemetry.AddToRolePolicy(allow([]string{"iot:DescribeEndpoint"}, "*"))
	suppress(f.telemetry.Role(), "AwsSolutions-IAM5",
		"iot:DescribeEndpoint has no resource-level permissions (resource *); the archive's keys are per thing, day and hour (objects of the telemetry bucket); alerts go to whichever thing sent the readings (sward/<thing>/alerts)",
		resourceFinding("*"), objectsOf("TelemetryBucket"), resourceFinding("arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/sward/*/alerts"))

	// release: read the release and what it names (GetObject also covers
	// HeadObject; ListBucket turns a missing key into 404 instead of 403, so
	// the handler can say which object is missing), record it and its
	// group's current job (GetItem, UpdateItem; the transaction that moves
	// the group's pointer needs only its items' actions), create the job
	// for the configured thing group only (the handler rejects a manifest
	// naming another group, and IAM would refuse it), look a job up first
	// to stay idempotent, and cancel the job the release supersedes. Jobs
	// only under the stack's job id prefix (shared/release.JobIDPrefix).
	// The bucket ARN is built from its name, not referenced: the bucket's
	// notification refers to this function already.
	artifacts := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), stack.Partition(), jsii.String(":s3:::"), st.artifactsBucketName})
	f.release.AddToRolePolicy(allow([]string{"s3:GetObject"}, *artifacts+"/*"))
	f.release.AddToRolePolicy(allow([]string{"s3:ListBucket"}, *artifacts))
	f.release.AddToRolePolicy(allow([]string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, *st.releases.TableArn()))
	group := thingGroupArn(stack, cfg.ThingGroupName)
	jobs := iotArn(stack, "job/"+release.JobIDPrefix+"*")
	f.release.AddToRolePolicy(allow([]string{"iot:CreateJob"}, group, jobs))
	f.release.AddToRolePolicy(allow([]string{"iot:DescribeThingGroup"}, group))
	f.release.AddToRolePolicy(allow([]string{"iot:DescribeJob", "iot:CancelJob"}, jobs))
	suppress(f.release.Role(), "AwsSolutions-IAM5",
		"A release manifest names any recipe and artifact object of the artifacts bucket; job ids are the stack's prefix and the release's commit, unknown at deploy time",
		resourceFinding("arn:<AWS::Partition>:s3:::sward-artifacts-<AWS::AccountId>-<AWS::Region>/*"),
		resourceFinding("arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/"+release.JobIDPrefix+"*"))

	// deployment-events: read a device's current status and write its
	// history and current status (GetItem, PutItem, UpdateItem; a
	// transaction needs no action of its own, only those of its items);
	// read a release's counts and abort criteria and update them
	// (GetItem, UpdateItem); stop a bad rollout of this stack's jobs.
	f.deploymentEvents.AddToRolePolicy(allow([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, *st.deviceStatus.TableArn()))
	f.deploymentEvents.AddToRolePolicy(allow([]string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, *st.releases.TableArn()))
	f.deploymentEvents.AddToRolePolicy(allow([]string{"iot:CancelJob"}, jobs))
	suppress(f.deploymentEvents.Role(), "AwsSolutions-IAM5",
		"Job ids are the stack's prefix and each release's commit, unknown at deploy time",
		resourceFinding("arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/"+release.JobIDPrefix+"*"))
	return f
}

// newFunction adds one Go Lambda (provided.al2023 on arm64, the `bootstrap`
// binary from cfg.LambdaDist/<name>) with its own log group, role and
// failure queue. The role starts with nothing but writing to that log group
// and sending to that queue; the caller grants the rest.
//
// Every function here is invoked asynchronously (by an IoT rule or by S3),
// so an event whose invocation fails asyncRetries+1 times would otherwise be
// dropped with a log line: it goes to the function's failure queue instead
// (an on-failure destination, which records the event, the error and the
// request context, where a dead-letter queue keeps only the event). The
// queue is encrypted (SQS-managed keys), TLS only, and alarmed on
// (monitoring.go).
func (f *functions) newFunction(stack awscdk.Stack, cfg appConfig, spec functionSpec) awslambda.Function {
	failures := awssqs.NewQueue(stack, jsii.String(spec.id+"Failures"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(failureRetentionDays)),
	})
	suppress(failures, "AwsSolutions-SQS3", "This queue is the "+spec.name+" Lambda's on-failure destination, itself the end of the line: a failed event waits here for a person (alarm on its depth)")
	f.failures[spec.name] = failures
	logs := awslogs.NewLogGroup(stack, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		Retention: retentionDays[cfg.LogRetentionDays],
		// Logs go with the function; the retention bounds them meanwhile.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	f.logs[spec.name] = logs
	role := awsiam.NewRole(stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Runs the Sward " + spec.name + " Lambda"),
	})
	logs.GrantWrite(role)
	var reserved *float64
	if spec.reservedConcurrency > 0 {
		reserved = jsii.Number(float64(spec.reservedConcurrency))
	}
	fn := awslambda.NewFunction(stack, jsii.String(spec.id), &awslambda.FunctionProps{
		Description:                  jsii.String(spec.description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.LambdaDist, spec.name)), nil),
		MemorySize:                   jsii.Number(spec.memoryMB),
		Timeout:                      spec.timeout,
		Role:                         role,
		LogGroup:                     logs,
		Environment:                  &spec.env,
		ReservedConcurrentExecutions: reserved,
	})
	// The destination, written out rather than the CDK's SqsDestination:
	// that grants sqs:GetQueueAttributes and GetQueueUrl as well, and
	// Lambda needs only SendMessage. Lambda checks the permission when the
	// configuration is created, hence the dependency on the role's policy.
	role.AddToPrincipalPolicy(allow([]string{"sqs:SendMessage"}, *failures.QueueArn()))
	invoke := awslambda.NewCfnEventInvokeConfig(stack, jsii.String(spec.id+"AsyncInvoke"), &awslambda.CfnEventInvokeConfigProps{
		FunctionName:         fn.FunctionName(),
		Qualifier:            jsii.String("$LATEST"),
		MaximumRetryAttempts: jsii.Number(asyncRetries),
		DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: failures.QueueArn()},
		},
	})
	invoke.Node().AddDependency(role)

	// The CDK makes a function depend on its role and the role's policy, so
	// that it is never invoked before its grants exist; cfn-lint's W3005
	// notes that the role half is implied by the function's Role GetAtt.
	// Harmless, and not ours to change.
	cfn := fn.Node().DefaultChild().(awscdk.CfnResource)
	cfn.AddMetadata(jsii.String("cfn-lint"),
		map[string]any{"config": map[string]any{"ignore_checks": []string{"W3005"}}})
	// devcloud runs each function from its build, dist/lambdas/<name>
	// (infra/devcloud/template.BuildMetadata).
	cfn.AddMetadata(jsii.String(buildMetadata), spec.name)
	return fn
}

// addReleaseNotification makes the artifacts bucket invoke the release Lambda
// when a release manifest is written.
//
// It is plain CloudFormation (the bucket's NotificationConfiguration) rather
// than the CDK's addEventNotification, whose Custom::S3BucketNotifications
// resource runs a Lambda of its own during deployment. Plain CloudFormation
// has a cycle to break: S3 checks that it may invoke the function when the
// notification is set, so the bucket depends on the invoke permission, and
// the permission's source ARN must not refer to the bucket. It is built from
// the bucket's fixed name instead.
func addReleaseNotification(stack awscdk.Stack, st *storage, release awslambda.Function) {
	permission := awslambda.NewCfnPermission(stack, jsii.String("ReleaseFunctionInvokedByArtifactsBucket"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  release.FunctionArn(),
		Principal:     jsii.String("s3.amazonaws.com"),
		SourceAccount: stack.Account(),
		SourceArn:     awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), stack.Partition(), jsii.String(":s3:::"), st.artifactsBucketName}),
	})
	bucket := st.artifacts.Node().DefaultChild().(awss3.CfnBucket)
	bucket.SetNotificationConfiguration(&awss3.CfnBucket_NotificationConfigurationProperty{
		LambdaConfigurations: &[]any{&awss3.CfnBucket_LambdaConfigurationProperty{
			Event:    jsii.String("s3:ObjectCreated:*"),
			Function: release.FunctionArn(),
			Filter: &awss3.CfnBucket_NotificationFilterProperty{
				S3Key: &awss3.CfnBucket_S3KeyFilterProperty{Rules: &[]any{
					&awss3.CfnBucket_FilterRuleProperty{Name: jsii.String("prefix"), Value: jsii.String(releasePrefix)},
					&awss3.CfnBucket_FilterRuleProperty{Name: jsii.String("suffix"), Value: jsii.String(releaseSuffix)},
				}},
			},
		}},
	})
	bucket.AddResourceDependency(permission, jsii.String("S3 checks that it may invoke the release Lambda when the notification is set"))
}

// allow is an Allow statement of actions on resources.
func allow(actions []string, resources ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	})
}

// iotArn is arn:<partition>:iot:<region>:<account>:<resource> of the stack.
func iotArn(stack awscdk.Stack, resource string) string {
	return *stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("iot"), Resource: jsii.String(resource)})
}

// thingGroupArn is the ARN of the thing group named name, built from the name
// so that policies do not wait for the group resource.
func thingGroupArn(stack awscdk.Stack, name string) string {
	return iotArn(stack, "thinggroup/"+name)
}
