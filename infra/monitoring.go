package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// alarmPeriod is the period every alarm evaluates: five minutes, the finest
// that the standard (free) metrics of SQS publish, and quick enough for
// problems that are counted in failed device messages.
var alarmPeriod = awscdk.Duration_Minutes(jsii.Number(5))

// metricsNamespace holds the metrics the stack makes from its logs.
const metricsNamespace = "Sward"

// Metrics made from logs (metric filters): failed rule actions, and device
// messages a Lambda refused, per function.
const (
	ruleErrorsMetric       = "RuleActionErrors"
	refusedMessagesMetric  = "RefusedDeviceMessages"
	refusedFunctionDimName = "Function"
)

// refusedMessagesPattern matches the log lines of the messages the Lambdas
// refuse (lambdas/README.md, Errors): a device's bad payload or records, and
// an event that is not one.
const refusedMessagesPattern = `{ ($.msg = "malformed telemetry payload") || ($.msg = "malformed telemetry records") || ($.msg = "telemetry event refused") || ($.msg = "deployment status refused") }`

// monitoring is what tells an operator that something failed: alarms that
// notify one topic, and a dashboard.
type monitoring struct {
	// topic is where every alarm notifies (and says OK again); subscribe
	// to it (output AlarmTopicArn).
	topic      awssns.Topic
	alarms     []awscloudwatch.Alarm
	alarmNames []string
	dashboard  awscloudwatch.Dashboard
}

// alarmNamePrefix starts every alarm's name: fixed names, one stack per
// account and region, so that the dashboard can refer to them by ARN.
const alarmNamePrefix = "Sward-"

// newMonitoring adds the alarm topic, the alarms and the dashboard.
//
// Alarms, each raised by anything above 0 in five minutes:
//   - per Lambda, a message in its failure queue (an event that failed its
//     retries: nothing else tells that it was not handled);
//   - per Lambda, errors (the retries have not failed yet, but something is
//     wrong: an outage of a service it calls, or refused wiring);
//   - the telemetry Lambda throttled (its reserved concurrency is too small
//     for the fleet, and events are waiting);
//   - a failed IoT rule action (the rule-errors log group: a message that
//     never reached its Lambda).
//
// Device messages the Lambdas refuse as malformed are counted on the
// dashboard but not alarmed: one broken device must not page anyone.
//
// The topic is TLS only. It is not KMS-encrypted: CloudWatch cannot publish
// to a topic under the AWS-managed SNS key, a customer-managed key costs
// every month, and a notification carries only an alarm's name and state.
func newMonitoring(stack awscdk.Stack, fns *functions, r *rules) *monitoring {
	m := &monitoring{
		topic: awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("Sward alarms"),
			EnforceSSL:  jsii.Bool(true),
		}),
	}
	suppress(m.topic, "AwsSolutions-SNS2", "Alarm notifications carry an alarm's name and state, no data; CloudWatch cannot publish to a topic under the AWS-managed SNS key")
	fn := map[string]awslambda.Function{telemetryLambda: fns.telemetry, releaseLambda: fns.release, deploymentEventsLambda: fns.deploymentEvents}

	var invocations, errs, durations, depths, refused []awscloudwatch.IMetric
	for _, name := range lambdaNames {
		id := lambdaIDs[name]
		// Alarms take the metrics as they are (a label would turn them
		// into metric math); the graphs label them with the function.
		label := &awscloudwatch.MetricOptions{Label: jsii.String(name)}
		depth := fns.failures[name].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: alarmPeriod, Statistic: jsii.String("Maximum"),
		})
		m.alarm(stack, id+"FailuresAlarm", "Events the "+name+" Lambda failed on after its retries are waiting in its failure queue: read them, fix the cause, redrive", depth)
		failed := fn[name].MetricErrors(&awscloudwatch.MetricOptions{Period: alarmPeriod, Statistic: jsii.String("Sum")})
		m.alarm(stack, id+"ErrorsAlarm", "The "+name+" Lambda failed invocations (an AWS call failed, or an event was refused): its log has the cause under the request id", failed)
		invocations = append(invocations, fn[name].MetricInvocations(&awscloudwatch.MetricOptions{Period: alarmPeriod, Statistic: jsii.String("Sum"), Label: jsii.String(name)}))
		durations = append(durations, fn[name].MetricDuration(&awscloudwatch.MetricOptions{Period: alarmPeriod, Statistic: jsii.String("p99"), Label: jsii.String(name + " p99")}))
		errs = append(errs, failed.With(label))
		depths = append(depths, depth.With(label))

		// Refused device messages, from the function's log.
		awslogs.NewMetricFilter(stack, jsii.String(id+"RefusedMessages"), &awslogs.MetricFilterProps{
			LogGroup:        fns.logs[name],
			FilterPattern:   awslogs.FilterPattern_Literal(jsii.String(refusedMessagesPattern)),
			MetricNamespace: jsii.String(metricsNamespace),
			MetricName:      jsii.String(refusedMessagesMetric),
			MetricValue:     jsii.String("1"),
			Dimensions:      &map[string]*string{refusedFunctionDimName: jsii.String(name)},
		})
		refused = append(refused, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metricsNamespace), MetricName: jsii.String(refusedMessagesMetric),
			DimensionsMap: &map[string]*string{refusedFunctionDimName: jsii.String(name)},
			Period:        alarmPeriod, Statistic: jsii.String("Sum"), Label: jsii.String(name),
		}))
	}
	throttles := fns.telemetry.MetricThrottles(&awscloudwatch.MetricOptions{Period: alarmPeriod, Statistic: jsii.String("Sum")})
	m.alarm(stack, "TelemetryThrottlesAlarm", "The telemetry Lambda is throttled at its reserved concurrency: events wait (Lambda retries them for up to six hours); raise telemetryReservedConcurrency or find the device flooding", throttles)

	// Every failed rule action is one line in the rule-errors log group
	// (the rules' error action), whatever the rule and action.
	awslogs.NewMetricFilter(stack, jsii.String("RuleActionErrors"), &awslogs.MetricFilterProps{
		LogGroup:        r.errors,
		FilterPattern:   awslogs.FilterPattern_AllEvents(),
		MetricNamespace: jsii.String(metricsNamespace),
		MetricName:      jsii.String(ruleErrorsMetric),
		MetricValue:     jsii.String("1"),
	})
	ruleErrors := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metricsNamespace), MetricName: jsii.String(ruleErrorsMetric),
		Period: alarmPeriod, Statistic: jsii.String("Sum"),
	})
	m.alarm(stack, "RuleErrorsAlarm", "An IoT rule action failed (the message did not reach its Lambda): the rule-errors log group has the reason and the payload", ruleErrors)

	graph := func(title string, metrics []awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8)})
	}
	// The status widget names the alarms by ARNs built from their fixed
	// names, not by GetAtt: moto's CloudFormation (the deploy test) has no
	// alarms, and a GetAtt of one would fail the whole template there.
	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(m.alarms))
	for i, name := range m.alarmNames {
		arn := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String(name), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
		alarms[i] = awscloudwatch.Alarm_FromAlarmArn(stack, jsii.String("Shown"+name), arn)
	}
	m.dashboard = awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{Title: jsii.String("Sward alarms"), Alarms: &alarms, Width: jsii.Number(24)})},
			{graph("Invocations", invocations), graph("Errors", errs), graph("Duration (p99)", durations)},
			{graph("Failure queue depth", depths), graph("Refused device messages", refused), graph("Failed rule actions, telemetry throttles", []awscloudwatch.IMetric{
				ruleErrors.With(&awscloudwatch.MetricOptions{Label: jsii.String("failed rule actions")}),
				throttles.With(&awscloudwatch.MetricOptions{Label: jsii.String("telemetry throttles")}),
			})},
		},
	})
	return m
}

// alarm adds an alarm raised when metric is above 0 in one period, notifying
// the topic when raised and when back to OK. Missing data (no messages, no
// errors) is not a breach.
func (m *monitoring) alarm(stack awscdk.Stack, id, description string, metric awscloudwatch.IMetric) awscloudwatch.Alarm {
	name := alarmNamePrefix + strings.TrimSuffix(id, "Alarm")
	a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(name),
		AlarmDescription:   jsii.String(description),
		Metric:             metric,
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	action := awscloudwatchactions.NewSnsAction(m.topic)
	a.AddAlarmAction(action)
	a.AddOkAction(action)
	m.alarms = append(m.alarms, a)
	m.alarmNames = append(m.alarmNames, name)
	return a
}

// iotLogGroup is where IoT Core writes its logs; IoT creates it.
const iotLogGroup = "log-group:AWSIotLogsV2"

// newIoTLogging sets IoT Core's account-wide logging (AWS::IoT::Logging, one
// per account and region) at level, with a role that IoT may assume for this
// account only and that writes only to IoT's own log group, AWSIotLogsV2.
func newIoTLogging(stack awscdk.Stack, level string) {
	role := awsiam.NewRole(stack, jsii.String("IoTLoggingRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("Lets IoT Core write its logs to AWSIotLogsV2"),
	})
	logs := *stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("logs"), Resource: jsii.String(iotLogGroup), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
	policy := awsiam.NewPolicy(stack, jsii.String("IoTLoggingPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			allow([]string{"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:PutMetricFilter"}, logs),
			allow([]string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}, logs+":*"),
		},
	})
	suppress(policy, "AwsSolutions-IAM5", "IoT Core names its log streams (one per day and host) in its own log group",
		resourceFinding("arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"+iotLogGroup+":*"))
	logging := awsiot.NewCfnLogging(stack, jsii.String("IoTLogging"), &awsiot.CfnLoggingProps{
		AccountId:       stack.Account(),
		DefaultLogLevel: jsii.String(level),
		RoleArn:         role.RoleArn(),
	})
	logging.Node().AddDependency(policy)
}
