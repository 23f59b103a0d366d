package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud/template"
	"github.com/sward-iot/sward/internal/testutil"
)

func TestS3DynamoDBAndCloudWatchLogsActionsWriteTheSelectResultToMoto(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	cfg := moto.Config()
	ctx := context.Background()
	clients := &Clients{
		S3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		DynamoDB: dynamodb.NewFromConfig(cfg),
		Logs:     cloudwatchlogs.NewFromConfig(cfg),
	}
	if _, err := clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("archive")}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("readings"), BillingMode: dbtypes.BillingModePayPerRequest,
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("thing"), KeyType: dbtypes.KeyTypeHash}},
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("thing"), AttributeType: dbtypes.ScalarAttributeTypeS}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients.Logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("readings-log")}); err != nil {
		t.Fatal(err)
	}
	rule, err := Compile(template.TopicRule{Name: "store", SQL: "SELECT temp, meta, topic(2) AS thing FROM 'sward/+/telemetry/+'", SQLVersion: "2016-03-23",
		Actions: []map[string]any{
			{"S3": map[string]any{"BucketName": "archive", "Key": "${topic(2)}/${topic(4)}.json", "RoleArn": "r"}},
			{"DynamoDBv2": map[string]any{"PutItem": map[string]any{"TableName": "readings"}, "RoleArn": "r"}},
			{"CloudwatchLogs": map[string]any{"LogGroupName": "readings-log", "RoleArn": "r"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	NewEngine(ctx, []*Rule{rule}, clients, nil).Handle(Message{Topic: "sward/dev1/telemetry/env", Payload: []byte(`{"temp":21.5,"meta":{"ok":true,"tags":["a"]}}`)})
	want := `{"meta":{"ok":true,"tags":["a"]},"temp":21.5,"thing":"dev1"}`

	testutil.Eventually(t, "the S3 action's object", func() error {
		out, err := clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String("dev1/env.json")})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			return err
		}
		if string(b) != want {
			return fmt.Errorf("object %s, want %s", b, want)
		}
		return nil
	})
	testutil.Eventually(t, "the DynamoDBv2 action's item", func() error {
		out, err := clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("readings"),
			Key: map[string]dbtypes.AttributeValue{"thing": &dbtypes.AttributeValueMemberS{Value: "dev1"}}})
		if err != nil {
			return err
		}
		temp, ok := out.Item["temp"].(*dbtypes.AttributeValueMemberN)
		meta, ok2 := out.Item["meta"].(*dbtypes.AttributeValueMemberM)
		if !ok || !ok2 || temp.Value != "21.5" {
			return fmt.Errorf("item %+v, want temp N 21.5 and meta M", out.Item)
		}
		if b, ok := meta.Value["ok"].(*dbtypes.AttributeValueMemberBOOL); !ok || !b.Value {
			return fmt.Errorf("meta %+v, want ok BOOL true", meta.Value)
		}
		if l, ok := meta.Value["tags"].(*dbtypes.AttributeValueMemberL); !ok || len(l.Value) != 1 {
			return fmt.Errorf("meta %+v, want tags L of one", meta.Value)
		}
		return nil
	})
	testutil.Eventually(t, "the CloudwatchLogs action's event", func() error {
		out, err := clients.Logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("readings-log"), LogStreamName: aws.String("store")})
		if err != nil {
			return err
		}
		if len(out.Events) != 1 || aws.ToString(out.Events[0].Message) != want {
			return fmt.Errorf("events %+v, want one with %s", out.Events, want)
		}
		if at := time.UnixMilli(aws.ToInt64(out.Events[0].Timestamp)); time.Since(at) > time.Minute {
			return fmt.Errorf("event timestamp %s, want the message's time", at)
		}
		return nil
	})
}

func TestAFailingS3ActionNamesTheBucketInTheErrorMessage(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	cfg := moto.Config()
	rule, err := Compile(template.TopicRule{Name: "store", SQL: "SELECT * FROM 'a/+'", SQLVersion: "2016-03-23",
		Actions:     []map[string]any{{"S3": map[string]any{"BucketName": "no-such-bucket", "Key": "k"}}},
		ErrorAction: map[string]any{"Republish": map[string]any{"Topic": "errors"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	NewEngine(context.Background(), []*Rule{rule}, &Clients{
		S3:      s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		Publish: func(_ string, payload []byte, _ byte) error { got <- payload; return nil },
	}, nil).Handle(Message{Topic: "a/b", Payload: []byte(`{"x":1}`)})
	var msg errorMessage
	if err := json.Unmarshal(testutil.Receive(t, got, "the error action"), &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Failures) != 1 || msg.Failures[0].FailedAction != "S3Action" || msg.Failures[0].FailedResource != "no-such-bucket" ||
		!strings.Contains(msg.Failures[0].ErrorMessage, "NoSuchBucket") {
		t.Errorf("failures = %+v, want the S3 action's NoSuchBucket", msg.Failures)
	}
}
