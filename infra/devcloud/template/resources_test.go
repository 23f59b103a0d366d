package template

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// stack is a slice of what `cdk synth` writes for infra/storage.go,
// functions.go and rules.go: names generated or joined, environments and
// actions referring to other resources.
const stack = `{"Resources":{
 "ArtifactsBucket2AAC5544":{"Type":"AWS::S3::Bucket","Properties":{
  "BucketName":{"Fn::Join":["-",["sward-artifacts",{"Ref":"AWS::AccountId"},{"Ref":"AWS::Region"}]]},
  "NotificationConfiguration":{"LambdaConfigurations":[{"Event":"s3:ObjectCreated:*",
   "Filter":{"S3Key":{"Rules":[{"Name":"prefix","Value":"releases/"},{"Name":"suffix","Value":"release.json"}]}},
   "Function":{"Fn::GetAtt":["ReleaseFunctionCC898F55","Arn"]}}]}}},
 "TelemetryBucket710FF2C8":{"Type":"AWS::S3::Bucket","Properties":{}},
 "DeviceStatusTable6D00E57F":{"Type":"AWS::DynamoDB::Table","Properties":{
  "AttributeDefinitions":[{"AttributeName":"thingName","AttributeType":"S"},{"AttributeName":"sortKey","AttributeType":"S"}],
  "KeySchema":[{"AttributeName":"thingName","KeyType":"HASH"},{"AttributeName":"sortKey","KeyType":"RANGE"}]}},
 "ReleaseFunctionCC898F55":{"Type":"AWS::Lambda::Function","Metadata":{"sward:lambda":"release","aws:asset:path":"asset.5bab"},
  "Properties":{"Timeout":120,"MemorySize":256,"LoggingConfig":{"LogGroup":{"Ref":"RuleErrorLogs6D37FF95"}},"Environment":{"Variables":{
   "SWARD_RELEASES_TABLE":{"Ref":"DeviceStatusTable6D00E57F"},
   "BUCKET_ARN":{"Fn::GetAtt":["TelemetryBucket710FF2C8","Arn"]},
   "SUB":{"Fn::Sub":"${TelemetryBucket710FF2C8}/${DeviceStatusTable6D00E57F.Arn}"}}}}},
 "RuleErrorLogs6D37FF95":{"Type":"AWS::Logs::LogGroup","Properties":{}},
 "TelemetryRule":{"Type":"AWS::IoT::TopicRule","Properties":{"RuleName":"sward_telemetry","TopicRulePayload":{
  "Sql":"SELECT * FROM 'a/+'","AwsIotSqlVersion":"2016-03-23",
  "Actions":[{"Lambda":{"FunctionArn":{"Fn::GetAtt":["ReleaseFunctionCC898F55","Arn"]}}}],
  "ErrorAction":{"CloudwatchLogs":{"LogGroupName":{"Ref":"RuleErrorLogs6D37FF95"}}}}}}
}}`

func TestParseNamesBucketsTablesAndFunctionsAsTheStackWouldAndResolvesWhatRefersToThem(t *testing.T) {
	tmpl, err := Parse([]byte(stack), env)
	if err != nil {
		t.Fatal(err)
	}
	wantBuckets := []Bucket{
		{LogicalID: "ArtifactsBucket2AAC5544", Name: "sward-artifacts-123456789012-eu-west-1", Notifications: []BucketNotification{{
			Event: "s3:ObjectCreated:*", Prefix: "releases/", Suffix: "release.json",
			FunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:SwardCloud-ReleaseFunctionCC898F55",
		}}},
		{LogicalID: "TelemetryBucket710FF2C8", Name: "swardcloud-telemetrybucket710ff2c8"},
	}
	if !reflect.DeepEqual(tmpl.Buckets, wantBuckets) {
		t.Errorf("buckets = %+v\nwant %+v", tmpl.Buckets, wantBuckets)
	}
	wantTables := []Table{{LogicalID: "DeviceStatusTable6D00E57F", Name: "SwardCloud-DeviceStatusTable6D00E57F",
		PartitionKey: "thingName", SortKey: "sortKey", Attributes: map[string]string{"thingName": "S", "sortKey": "S"}}}
	if want := []string{"SwardCloud-RuleErrorLogs6D37FF95"}; !reflect.DeepEqual(tmpl.LogGroups, want) {
		t.Errorf("log groups = %v, want %v", tmpl.LogGroups, want)
	}
	if !reflect.DeepEqual(tmpl.Tables, wantTables) {
		t.Errorf("tables = %+v\nwant %+v", tmpl.Tables, wantTables)
	}
	fn, ok := tmpl.Function("arn:aws:lambda:eu-west-1:123456789012:function:SwardCloud-ReleaseFunctionCC898F55")
	if !ok {
		t.Fatalf("no function by the notification's ARN in %+v", tmpl.Functions)
	}
	wantFn := Function{
		LogicalID: "ReleaseFunctionCC898F55", Name: "SwardCloud-ReleaseFunctionCC898F55",
		Arn:   "arn:aws:lambda:eu-west-1:123456789012:function:SwardCloud-ReleaseFunctionCC898F55",
		Build: "release", AssetPath: "asset.5bab", TimeoutSeconds: 120, MemoryMB: 256, LogGroup: "SwardCloud-RuleErrorLogs6D37FF95",
		Environment: map[string]string{
			"SWARD_RELEASES_TABLE": "SwardCloud-DeviceStatusTable6D00E57F",
			"BUCKET_ARN":           "arn:aws:s3:::swardcloud-telemetrybucket710ff2c8",
			"SUB":                  "swardcloud-telemetrybucket710ff2c8/arn:aws:dynamodb:eu-west-1:123456789012:table/SwardCloud-DeviceStatusTable6D00E57F",
		},
	}
	if !reflect.DeepEqual(fn, wantFn) {
		t.Errorf("function = %+v\nwant %+v", fn, wantFn)
	}
	rule := tmpl.Rules[0]
	wantActions := []map[string]any{{"Lambda": map[string]any{"FunctionArn": wantFn.Arn}}}
	if !reflect.DeepEqual(rule.Actions, wantActions) {
		t.Errorf("rule actions = %v, want %v", rule.Actions, wantActions)
	}
	wantError := map[string]any{"CloudwatchLogs": map[string]any{"LogGroupName": "SwardCloud-RuleErrorLogs6D37FF95"}}
	if !reflect.DeepEqual(rule.ErrorAction, wantError) {
		t.Errorf("rule error action = %v, want %v", rule.ErrorAction, wantError)
	}
}

func TestParseRefusesBucketNotificationsItCannotDeliver(t *testing.T) {
	const tmpl = `{"Resources":{"B":{"Type":"AWS::S3::Bucket","Properties":{"NotificationConfiguration":{
		"QueueConfigurations":[{"Event":"s3:ObjectCreated:*","Queue":"arn:aws:sqs:eu-west-1:123456789012:q"}]}}}}}`
	_, err := Parse([]byte(tmpl), env)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "B:") || !strings.Contains(err.Error(), "QueueConfigurations") {
		t.Fatalf("err = %v, want ErrUnsupported naming B and QueueConfigurations", err)
	}
}
