package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ErrUnsupportedAction is wrapped by Compile for a rule action devcloud
// does not run.
var ErrUnsupportedAction = errors.New("unsupported rule action")

// Invoker queues an asynchronous Lambda invocation (lambdas.Service).
type Invoker interface {
	InvokeAsync(ref string, payload []byte, source string) (string, error)
}

// Clients are what the actions call.
type Clients struct {
	Lambda   Invoker
	Publish  func(topic string, payload []byte, qos byte) error
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	Logs     *cloudwatchlogs.Client
}

// action is one compiled rule action.
type action interface {
	// name is the action's name in an error action's failures
	// (failedAction), resource the resource it names (failedResource).
	name() string
	resource(m Message) string
	run(ctx context.Context, c *Clients, rule string, m Message, payload []byte) error
}

// actionFields are the properties devcloud reads of each action it runs,
// by the template's spelling; RoleArn is accepted and not used (devcloud
// has no IAM).
var actionFields = map[string][]string{
	"Lambda":         {"FunctionArn"},
	"Republish":      {"Topic", "Qos", "RoleArn"},
	"S3":             {"BucketName", "Key", "CannedAcl", "RoleArn"},
	"DynamoDBv2":     {"PutItem", "RoleArn"},
	"CloudwatchLogs": {"LogGroupName", "RoleArn", "BatchMode"},
}

// compileAction checks one action of the template and builds it; what
// devcloud does not run is an error naming the construct.
func compileAction(a map[string]any) (action, error) {
	if len(a) != 1 {
		return nil, fmt.Errorf("%w: an action object with %d keys, want one", ErrUnsupportedAction, len(a))
	}
	for kind, v := range a {
		allowed, ok := actionFields[kind]
		if !ok {
			kinds := make([]string, 0, len(actionFields))
			for k := range actionFields {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			return nil, fmt.Errorf("%w: %s (devcloud runs %s)", ErrUnsupportedAction, kind, strings.Join(kinds, ", "))
		}
		props, _ := v.(map[string]any)
		for k := range props {
			if !contains(allowed, k) {
				return nil, fmt.Errorf("%w: %s property %s", ErrUnsupportedAction, kind, k)
			}
		}
		str := func(k string) string { s, _ := props[k].(string); return s }
		switch kind {
		case "Lambda":
			if str("FunctionArn") == "" {
				return nil, errors.New("action Lambda without FunctionArn")
			}
			return lambdaAction{arn: str("FunctionArn")}, nil
		case "Republish":
			if str("Topic") == "" {
				return nil, errors.New("action Republish without Topic")
			}
			topic, err := ParseSubstitution(str("Topic"))
			if err != nil {
				return nil, fmt.Errorf("action Republish Topic %q: %w", str("Topic"), err)
			}
			qos, _ := props["Qos"].(float64)
			if qos != 0 && qos != 1 {
				return nil, fmt.Errorf("action Republish Qos %v: want 0 or 1", props["Qos"])
			}
			return republishAction{topic: topic, qos: byte(qos)}, nil
		case "S3":
			if str("Key") == "" || str("BucketName") == "" {
				return nil, errors.New("action S3 needs BucketName and Key")
			}
			key, err := ParseSubstitution(str("Key"))
			if err != nil {
				return nil, fmt.Errorf("action S3 Key %q: %w", str("Key"), err)
			}
			return s3Action{bucket: str("BucketName"), key: key, acl: str("CannedAcl")}, nil
		case "DynamoDBv2":
			put, _ := props["PutItem"].(map[string]any)
			table, _ := put["TableName"].(string)
			if table == "" || len(put) != 1 {
				return nil, fmt.Errorf("%w: DynamoDBv2 PutItem %v (want TableName only)", ErrUnsupportedAction, put)
			}
			return dynamoAction{table: table}, nil
		case "CloudwatchLogs":
			if b, _ := props["BatchMode"].(bool); b {
				return nil, fmt.Errorf("%w: CloudwatchLogs BatchMode true", ErrUnsupportedAction)
			}
			if str("LogGroupName") == "" {
				return nil, errors.New("action CloudwatchLogs without LogGroupName")
			}
			return logsAction{group: str("LogGroupName")}, nil
		}
	}
	return nil, nil // not reached
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type lambdaAction struct{ arn string }

func (a lambdaAction) name() string            { return "LambdaAction" }
func (a lambdaAction) resource(Message) string { return a.arn }
func (a lambdaAction) run(_ context.Context, c *Clients, rule string, _ Message, payload []byte) error {
	_, err := c.Lambda.InvokeAsync(a.arn, payload, "rule "+rule)
	if err != nil {
		return fmt.Errorf("failed to invoke lambda function %s: %w", a.arn, err)
	}
	return nil
}

type republishAction struct {
	topic *Substitution
	qos   byte
}

func (a republishAction) name() string              { return "RepublishAction" }
func (a republishAction) resource(m Message) string { return a.topic.Expand(m) }
func (a republishAction) run(_ context.Context, c *Clients, _ string, m Message, payload []byte) error {
	topic := a.topic.Expand(m)
	if err := c.Publish(topic, payload, a.qos); err != nil {
		return fmt.Errorf("failed to republish to topic %s: %w", topic, err)
	}
	return nil
}

type s3Action struct {
	bucket string
	key    *Substitution
	acl    string
}

func (a s3Action) name() string            { return "S3Action" }
func (a s3Action) resource(Message) string { return a.bucket }
func (a s3Action) run(ctx context.Context, c *Clients, _ string, m Message, payload []byte) error {
	key := a.key.Expand(m)
	in := &s3.PutObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key), Body: bytes.NewReader(payload)}
	if a.acl != "" {
		in.ACL = s3types.ObjectCannedACL(a.acl)
	}
	if _, err := c.S3.PutObject(ctx, in); err != nil {
		return fmt.Errorf("failed to put S3 object (bucket %s, key %q): %w", a.bucket, key, err)
	}
	return nil
}

type dynamoAction struct{ table string }

func (a dynamoAction) name() string            { return "DynamoDBv2Action" }
func (a dynamoAction) resource(Message) string { return a.table }
func (a dynamoAction) run(ctx context.Context, c *Clients, _ string, _ Message, payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("the SELECT result is not a JSON object, which DynamoDBv2 writes one attribute per field of: %w", err)
	}
	item := make(map[string]dbtypes.AttributeValue, len(doc))
	for k, v := range doc {
		item[k] = attributeValue(v)
	}
	if _, err := c.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(a.table), Item: item}); err != nil {
		return fmt.Errorf("failed to put item in table %s: %w", a.table, err)
	}
	return nil
}

// attributeValue is a JSON value as DynamoDB stores it.
func attributeValue(v any) dbtypes.AttributeValue {
	switch v := v.(type) {
	case string:
		return &dbtypes.AttributeValueMemberS{Value: v}
	case json.Number:
		return &dbtypes.AttributeValueMemberN{Value: v.String()}
	case bool:
		return &dbtypes.AttributeValueMemberBOOL{Value: v}
	case map[string]any:
		m := make(map[string]dbtypes.AttributeValue, len(v))
		for k, e := range v {
			m[k] = attributeValue(e)
		}
		return &dbtypes.AttributeValueMemberM{Value: m}
	case []any:
		l := make([]dbtypes.AttributeValue, len(v))
		for i, e := range v {
			l[i] = attributeValue(e)
		}
		return &dbtypes.AttributeValueMemberL{Value: l}
	}
	return &dbtypes.AttributeValueMemberNULL{Value: true}
}

type logsAction struct{ group string }

func (a logsAction) name() string            { return "CloudwatchLogsAction" }
func (a logsAction) resource(Message) string { return a.group }

// run writes payload as one event to a stream named after the rule
// (created when missing).
func (a logsAction) run(ctx context.Context, c *Clients, rule string, m Message, payload []byte) error {
	stream := rule
	_, err := c.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(a.group), LogStreamName: aws.String(stream)})
	var exists *logtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("failed to create log stream %s in %s: %w", stream, a.group, err)
	}
	_, err = c.Logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(a.group), LogStreamName: aws.String(stream),
		LogEvents: []logtypes.InputLogEvent{{Message: aws.String(string(payload)), Timestamp: aws.Int64(m.Now.UnixMilli())}},
	})
	if err != nil {
		return fmt.Errorf("failed to put log events to %s: %w", a.group, err)
	}
	return nil
}

// actionTimeout bounds one action's AWS call, as IoT Core gives up on a
// slow destination.
const actionTimeout = 30 * time.Second
