package devcloud

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/sward-iot/sward/infra/devcloud/lambdas"
)

// logBatch is the most events one PutLogEvents carries here (CloudWatch
// Logs takes 10,000; smaller keeps each request to moto short).
const logBatch = 1000

// lambdaLogSink writes what the Lambdas print to their log groups in
// moto, as Lambda does: the group (created when missing, as Lambda creates
// /aws/lambda/<name>), a stream per instance.
func lambdaLogSink(c *cloudwatchlogs.Client) lambdas.LogSink {
	return func(group, stream string, events []lambdas.LogEvent) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := createLogStream(ctx, c, group, stream); err != nil {
			return err
		}
		for len(events) > 0 {
			n := min(len(events), logBatch)
			in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}
			for _, e := range events[:n] {
				in.LogEvents = append(in.LogEvents, logtypes.InputLogEvent{Message: aws.String(e.Message), Timestamp: aws.Int64(e.Time.UnixMilli())})
			}
			if _, err := c.PutLogEvents(ctx, in); err != nil {
				return err
			}
			events = events[n:]
		}
		return nil
	}
}

func createLogStream(ctx context.Context, c *cloudwatchlogs.Client, group, stream string) error {
	create := func() error {
		_, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
		var exists *logtypes.ResourceAlreadyExistsException
		if errors.As(err, &exists) {
			return nil
		}
		return err
	}
	err := create()
	var missing *logtypes.ResourceNotFoundException
	if !errors.As(err, &missing) {
		return err
	}
	_, err = c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
	var exists *logtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	return create()
}
