package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
)

// alarmPeriod is the period every alarm evaluates: five minutes, the finest
// that the standard (free) metrics of SQS publish, and quick enough for
// problems that are counted in failed device messages.
var alarmPeriod = awscdk.Duration_Minutes(jsii.Number(5))

// monitoring is what tells an operator that something failed: alarms that
// notify one topic.
type monitoring struct {
	// topic is where every alarm notifies (and says OK again); subscribe
	// to it (output AlarmTopicArn).
	topic  awssns.Topic
	alarms []awscloudwatch.Alarm
}

// newMonitoring adds the alarm topic and the alarms: one per failure queue,
// raised by any message in it.
//
// The topic is TLS only. It is not KMS-encrypted: CloudWatch cannot publish
// to a topic under the AWS-managed SNS key, a customer-managed key costs
// every month, and a notification carries only an alarm's name and state.
func newMonitoring(stack awscdk.Stack, fns *functions) *monitoring {
	m := &monitoring{
		topic: awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("Sward alarms"),
			EnforceSSL:  jsii.Bool(true),
		}),
	}
	suppress(m.topic, "AwsSolutions-SNS2", "Alarm notifications carry an alarm's name and state, no data; CloudWatch cannot publish to a topic under the AWS-managed SNS key")
	for _, name := range lambdaNames {
		q := fns.failures[name]
		m.alarm(stack, lambdaIDs[name]+"FailuresAlarm", "Events the "+name+" Lambda failed on after its retries are waiting in its failure queue: read them, fix the cause, redrive",
			q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: alarmPeriod, Statistic: jsii.String("Maximum")}))
	}
	return m
}

// alarm adds an alarm raised when metric is above 0 in one period, notifying
// the topic when raised and when back to OK. Missing data (no messages, no
// errors) is not a breach.
func (m *monitoring) alarm(stack awscdk.Stack, id, description string, metric awscloudwatch.IMetric) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
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
	return a
}
