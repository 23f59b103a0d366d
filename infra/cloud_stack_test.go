package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// The assertion tests share one app (jsii makes each synth cost seconds):
// the stack as `cdk deploy` builds it by default, and a second one with every
// context value set. Both use placeholder Lambda builds in a temporary folder,
// so they do not depend on lambdas/ building.
var (
	templatesOnce       sync.Once
	defaultTmpl         assertions.Template
	configuredTmpl      assertions.Template
	defaultResources    map[string]any
	configuredResources map[string]any
	configuredOutputs   map[string]any
	placeholderDist     string
	placeholderDistErr  error
)

const testThresholds = `{"temperature":{"max":80}}`

func TestMain(m *testing.M) {
	placeholderDist, placeholderDistErr = writePlaceholderDist()
	code := m.Run()
	for _, dir := range []string{placeholderDist, assemblyDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// writePlaceholderDist makes a folder of <name>/bootstrap files standing in
// for `make lambdas` output: the template only hashes and zips them.
func writePlaceholderDist() (string, error) {
	dir, err := os.MkdirTemp("", "sward-infra-lambdas-")
	if err != nil {
		return "", err
	}
	for _, name := range lambdaNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return dir, err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\n# placeholder for "+name+"\n"), 0o755); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// templates returns the default and the fully configured stack's templates.
func templates(t *testing.T) (def, configured assertions.Template) {
	t.Helper()
	if placeholderDistErr != nil {
		t.Fatalf("placeholder Lambda builds: %v", placeholderDistErr)
	}
	templatesOnce.Do(func() {
		ctx := cdkJSONContext(t)
		app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
		d := NewCloudStack(app, "TestDefault", &CloudStackProps{LambdaDist: placeholderDist})
		c := NewCloudStack(app, "TestConfigured", &CloudStackProps{
			LambdaDist:       placeholderDist,
			ThingGroupName:   "test-fleet",
			LogRetentionDays: 90,
			Thresholds:       testThresholds,
			GitHubRepository: "sward-iot/sward",
			GitHubBranch:     "release",
		})
		defaultTmpl = assertions.Template_FromStack(d, nil)
		configuredTmpl = assertions.Template_FromStack(c, nil)
		defaultResources = (*defaultTmpl.ToJSON())["Resources"].(map[string]any)
		configuredOutputs = (*configuredTmpl.ToJSON())["Outputs"].(map[string]any)
		configuredResources = (*configuredTmpl.ToJSON())["Resources"].(map[string]any)
	})
	return defaultTmpl, configuredTmpl
}

func defaultTemplate(t *testing.T) assertions.Template {
	t.Helper()
	def, _ := templates(t)
	return def
}

func TestCloudStackHoldsExactlyTheseResources(t *testing.T) {
	tmpl := defaultTemplate(t)
	want := map[string]int{
		"AWS::S3::Bucket":                3, // artifacts, telemetry, access logs
		"AWS::S3::BucketPolicy":          3, // TLS only, one per bucket
		"AWS::DynamoDB::Table":           3, // releases, device status, telemetry state
		"AWS::Lambda::Function":          3,
		"AWS::Lambda::Permission":        4, // three rules, one bucket notification
		"AWS::Logs::LogGroup":            4, // one per Lambda, rule errors
		"AWS::IAM::Role":                 6, // one per Lambda, rule errors, token exchange, IoT logging
		"AWS::IAM::Policy":               6,
		"AWS::IoT::TopicRule":            3, // telemetry, deployment status, fleet status
		"AWS::IoT::Policy":               1,
		"AWS::IoT::RoleAlias":            1,
		"AWS::IoT::ThingGroup":           1,
		"AWS::SQS::Queue":                3, // one failure queue per Lambda
		"AWS::SQS::QueuePolicy":          3, // TLS only
		"AWS::Lambda::EventInvokeConfig": 3, // on failure, to the queue
		"AWS::CloudWatch::Alarm":         8, // per Lambda failure queue and errors, telemetry throttles, rule errors
		"AWS::CloudWatch::Dashboard":     1,
		"AWS::Logs::MetricFilter":        4, // refused messages per Lambda, rule errors
		"AWS::IoT::Logging":              1,
		"AWS::Glue::Database":            1,
		"AWS::Glue::Table":               1, // the telemetry archive
		"AWS::Athena::WorkGroup":         1,
		"AWS::SNS::Topic":                1, // alarms
		"AWS::SNS::TopicPolicy":          1, // TLS only
		"AWS::IAM::ManagedPolicy":        0,
		"AWS::Lambda::LayerVersion":      0,
	}
	got := map[string]int{}
	for _, r := range defaultResources {
		got[r.(map[string]any)["Type"].(string)]++
	}
	for typ, n := range want {
		tmpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
	}
	for typ, n := range got {
		if _, ok := want[typ]; !ok {
			// Custom resources in particular: each one is a Lambda the
			// deployment runs, which this stack does without.
			t.Errorf("unexpected %d resource(s) of type %s", n, typ)
		}
	}
}

func TestCloudStackOutputsWhatADeviceAndPublisherNeed(t *testing.T) {
	_, tmpl := templates(t)
	literal := map[string]string{
		"AthenaWorkGroupName":        "sward",
		"TelemetryTableName":         "sward.telemetry",
		"ThingGroupName":             "test-fleet",
		"DevicePolicyName":           "SwardDevicePolicy",
		"TokenExchangeRoleAliasName": "SwardTokenExchangeRoleAlias",
	}
	for name, value := range literal {
		tmpl.HasOutput(jsii.String(name), map[string]any{"Value": value})
	}
	rendered := map[string]string{
		"ArtifactsBucketName":          "{ArtifactsBucket}",
		"TelemetryBucketName":          "{TelemetryBucket}",
		"ThingGroupArn":                "arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:thinggroup/test-fleet",
		"TokenExchangeRoleAliasArn":    "{TokenExchangeRoleAlias.RoleAliasArn}",
		"TokenExchangeRoleArn":         "{TokenExchangeRole.Arn}",
		"ReleasesTableName":            "{ReleasesTable}",
		"DeviceStatusTableName":        "{DeviceStatusTable}",
		"RuleErrorsLogGroupName":       "{RuleErrorLogs}",
		"AlarmTopicArn":                "{AlarmTopic}",
		"DashboardName":                "{Dashboard}",
		"PublisherRoleArn":             "{PublisherRole.Arn}",
		"TelemetryFunctionName":        "{TelemetryFunction}",
		"ReleaseFunctionName":          "{ReleaseFunction}",
		"DeploymentEventsFunctionName": "{DeploymentEventsFunction}",
	}
	for name, want := range rendered {
		out, ok := configuredOutputs[name].(map[string]any)
		if !ok {
			t.Errorf("output %s is missing", name)
			continue
		}
		if got := render(out["Value"]); got != want {
			t.Errorf("output %s = %s, want %s", name, got, want)
		}
	}
	if n := len(configuredOutputs); n != len(literal)+len(rendered) {
		t.Errorf("stack has %d outputs, want %d: add new ones to this test and to infra/README.md", n, len(literal)+len(rendered))
	}
}

func TestCloudStackTagsEveryTaggableResourceWithTheThingGroup(t *testing.T) {
	_, tmpl := templates(t)
	tag := assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "sward:thing-group", "Value": "test-fleet"}})
	for _, typ := range []string{"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Logs::LogGroup"} {
		tmpl.AllResourcesProperties(jsii.String(typ), map[string]any{"Tags": tag})
	}
}

// resource returns the resource of the default template whose logical id is
// id followed by the CDK's 8-hex-digit hash, or exactly id.
func resource(t *testing.T, id string) map[string]any {
	t.Helper()
	defaultTemplate(t)
	for logical, r := range defaultResources {
		if logical == id || (strings.HasPrefix(logical, id) && len(logical) == len(id)+8) {
			return r.(map[string]any)
		}
	}
	t.Fatalf("no resource %s in the template", id)
	return nil
}

// logicalID returns the logical id that resource(t, id) finds.
func logicalID(t *testing.T, id string) string {
	t.Helper()
	defaultTemplate(t)
	for logical := range defaultResources {
		if logical == id || (strings.HasPrefix(logical, id) && len(logical) == len(id)+8) {
			return logical
		}
	}
	t.Fatalf("no resource %s in the template", id)
	return ""
}

// render turns a template value into a readable string: Fn::Join is joined,
// {"Ref": X} becomes {X} and {"Fn::GetAtt": [X, A]} becomes {X.A}, with the
// CDK's hash suffix dropped from logical ids. Lists render as [a b], other
// objects as map[key:value …] with sorted keys.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			return "{" + stripHash(ref) + "}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return "{" + stripHash(ga[0].(string)) + "." + ga[1].(string) + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var b strings.Builder
			for i, e := range j[1].([]any) {
				if i > 0 {
					b.WriteString(j[0].(string))
				}
				b.WriteString(render(e))
			}
			return b.String()
		}
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ":" + render(x[k])
		}
		return "map[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

// stripHash drops the 8-hex-digit suffix the CDK appends to logical ids.
func stripHash(id string) string {
	if len(id) > 8 && !strings.HasPrefix(id, "AWS::") {
		tail := id[len(id)-8:]
		if strings.Trim(tail, "0123456789ABCDEF") == "" {
			return id[:len(id)-8]
		}
	}
	return id
}

// grants returns, for the IAM role whose logical id starts with roleID, every
// action that its policies allow mapped to the sorted rendered resources.
func grants(t *testing.T, roleID string) map[string][]string {
	t.Helper()
	role := logicalID(t, roleID)
	out := map[string][]string{}
	for _, r := range defaultResources {
		res := r.(map[string]any)
		if res["Type"] != "AWS::IAM::Policy" {
			continue
		}
		props := res["Properties"].(map[string]any)
		attached := false
		for _, ro := range props["Roles"].([]any) {
			if render(ro) == "{"+stripHash(role)+"}" {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, s := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("role %s has a %v statement", roleID, st["Effect"])
			}
			for _, a := range asList(st["Action"]) {
				for _, rs := range asList(st["Resource"]) {
					out[render(a)] = append(out[render(a)], render(rs))
				}
			}
		}
	}
	for a := range out {
		slices.Sort(out[a])
	}
	return out
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// assertGrants fails t unless got allows exactly the actions of want, each on
// exactly the listed resources.
func assertGrants(t *testing.T, role string, got, want map[string][]string) {
	t.Helper()
	for action, resources := range want {
		slices.Sort(resources)
		if !slices.Equal(got[action], resources) {
			t.Errorf("%s: %s on %v, want on %v", role, action, got[action], resources)
		}
	}
	for action, resources := range got {
		if _, ok := want[action]; !ok {
			t.Errorf("%s: also allows %s on %v, which it should not need", role, action, resources)
		}
	}
}
