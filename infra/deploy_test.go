package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/internal/testutil"
)

// motoAccount and motoRegion are where moto_server puts everything: its
// default account, and the region the test asks for.
const (
	motoAccount = "123456789012"
	motoRegion  = "us-east-1"
	// deployBudget bounds bootstrap plus deploy: about 25 s on an idle
	// two-core machine, so four times that before calling it hung.
	deployBudget = 100 * time.Second
)

// motoUnsupported is what moto's CloudFormation skips (it logs "No Moto
// CloudFormation support for <type>" and creates nothing): a deploy to moto
// proves nothing about these. If moto learns one, or the stack gains another,
// this list and infra/README.md change together.
var motoUnsupported = []string{"AWS::Athena::WorkGroup", "AWS::CDK::Metadata", "AWS::CloudWatch::Alarm", "AWS::Glue::Database", "AWS::Glue::Table",
	"AWS::IoT::Logging", "AWS::IoT::ThingGroup", "AWS::IoT::TopicRule", "AWS::Lambda::EventInvokeConfig", "AWS::Logs::MetricFilter",
	"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"}

// TestCDKDeploysToMotoCloudFormation deploys the synthesized app with the
// pinned CDK CLI (`cdk bootstrap`, then `cdk deploy`) into moto_server's
// CloudFormation, then checks through the service APIs that what the template
// refers to resolved into real resources: the outputs, the tables' keys, the
// Lambdas' environment and the invoke permissions' source ARNs, the role
// alias's role.
//
// Two things make it work (infra/README.md explains both): the endpoint is
// http://localhost:<port>, not 127.0.0.1 (moto reads the bucket of a
// TemplateURL from the host name unless it is localhost or *.amazonaws.com,
// so 127.0.0.1 becomes bucket "127" and CreateChangeSet fails with "The
// specified bucket does not exist"), and `--method=direct` (moto fills in a
// stack's outputs only when it is created by CreateStack, not by a change
// set).
func TestCDKDeploysToMotoCloudFormation(t *testing.T) {
	asm := synthAssembly(t)
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	// The CDK addresses moto by name, http://localhost:<port>.
	endpoint := strings.Replace(moto.URL, "127.0.0.1", "localhost", 1)

	ctx, cancel := context.WithTimeout(context.Background(), deployBudget)
	defer cancel()
	root, _ := filepath.Abs("..")
	outputsFile := filepath.Join(t.TempDir(), "outputs.json")
	env := cdkEnv([]string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_REGION=" + motoRegion,
		"AWS_DEFAULT_REGION=" + motoRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	})
	cdk := filepath.Join(root, "node_modules", ".bin", "cdk")
	for _, args := range [][]string{
		{"bootstrap", "aws://" + motoAccount + "/" + motoRegion},
		{"deploy", cloudStackName, "--method=direct", "--require-approval=never", "--outputs-file", outputsFile},
	} {
		cmd := exec.CommandContext(ctx, cdk, append(args, "--app", asm, "--no-notices")...)
		cmd.Dir = root
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cdk %s: %v (ctx: %v)\n%s\nmoto_server:\n%s", args[0], err, ctx.Err(), b, tail(moto.Output(), 4000))
		}
	}

	var all map[string]map[string]string
	b, err := os.ReadFile(outputsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatalf("outputs file: %v\n%s", err, b)
	}
	out := all[cloudStackName]
	for _, name := range []string{"ArtifactsBucketName", "TelemetryBucketName", "ThingGroupName", "ThingGroupArn",
		"DevicePolicyName", "TokenExchangeRoleAliasName", "TokenExchangeRoleAliasArn", "TokenExchangeRoleArn",
		"ReleasesTableName", "DeviceStatusTableName", "RuleErrorsLogGroupName", "PublisherRoleArn",
		"TelemetryFunctionName", "ReleaseFunctionName", "DeploymentEventsFunctionName"} {
		if v := out[name]; v == "" || strings.Contains(v, "<") {
			t.Errorf("output %s = %q, want a resolved value", name, v)
		}
	}
	if got, want := out["ArtifactsBucketName"], "sward-artifacts-"+motoAccount+"-"+motoRegion; got != want {
		t.Errorf("ArtifactsBucketName = %q, want %q", got, want)
	}

	cfg := aws.Config{
		Region:      motoRegion,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	for table, keys := range map[string]string{"ReleasesTableName": "jobId:HASH", "DeviceStatusTableName": "thingName:HASH sortKey:RANGE"} {
		d, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(out[table])})
		if err != nil {
			t.Errorf("DescribeTable %s: %v", out[table], err)
			continue
		}
		var got []string
		for _, k := range d.Table.KeySchema {
			got = append(got, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		if strings.Join(got, " ") != keys {
			t.Errorf("%s key schema = %v, want %s", table, got, keys)
		}
	}

	iotc := iot.NewFromConfig(cfg, func(o *iot.Options) { o.BaseEndpoint = aws.String(endpoint) })
	alias, err := iotc.DescribeRoleAlias(ctx, &iot.DescribeRoleAliasInput{RoleAlias: aws.String(out["TokenExchangeRoleAliasName"])})
	if err != nil {
		t.Errorf("DescribeRoleAlias: %v", err)
	} else if got := aws.ToString(alias.RoleAliasDescription.RoleArn); got != out["TokenExchangeRoleArn"] {
		t.Errorf("role alias role = %q, want the token exchange role %q", got, out["TokenExchangeRoleArn"])
	}
	policies, err := iotc.ListPolicies(ctx, &iot.ListPoliciesInput{})
	if err != nil {
		t.Errorf("ListPolicies: %v", err)
	} else if !slices.ContainsFunc(policies.Policies, func(p iottypes.Policy) bool { return aws.ToString(p.PolicyName) == out["DevicePolicyName"] }) {
		t.Errorf("device policy %q is not among the IoT policies", out["DevicePolicyName"])
	}

	// The Lambda API through moto's REST routes (no Lambda client module
	// in go.mod): environment and invoke permissions.
	lambdaGet := func(path string, v any) {
		t.Helper()
		if err := signedGet(ctx, cfg, endpoint+path, v); err != nil {
			t.Errorf("GET %s: %v", path, err)
		}
	}
	wantEnv := map[string]map[string]string{
		"TelemetryFunctionName":        {envTelemetryBucket: out["TelemetryBucketName"]},
		"ReleaseFunctionName":          {envReleasesTable: out["ReleasesTableName"], envThingGroup: out["ThingGroupName"]},
		"DeploymentEventsFunctionName": {envReleasesTable: out["ReleasesTableName"], envDeviceStatusTable: out["DeviceStatusTableName"]},
	}
	rule := func(name string) string { return "arn:aws:iot:" + motoRegion + ":" + motoAccount + ":rule/" + name }
	// Who may invoke each function: one statement per source. The
	// deployment-events function serves two rules.
	wantSource := map[string][]string{
		"TelemetryFunctionName":        {rule(telemetryRuleName)},
		"ReleaseFunctionName":          {"arn:aws:s3:::" + out["ArtifactsBucketName"]},
		"DeploymentEventsFunctionName": {rule(deploymentEventsRuleName), rule(fleetStatusRuleName)},
	}
	for fn, env := range wantEnv {
		var conf struct {
			Configuration struct {
				Runtime, Handler string
				Environment      struct{ Variables map[string]string }
			}
		}
		lambdaGet("/2015-03-31/functions/"+out[fn], &conf)
		if c := conf.Configuration; c.Runtime != "provided.al2023" || c.Handler != "bootstrap" {
			t.Errorf("%s runtime %q handler %q, want provided.al2023 and bootstrap", fn, c.Runtime, c.Handler)
		}
		for k, v := range env {
			if got := conf.Configuration.Environment.Variables[k]; got != v {
				t.Errorf("%s %s = %q, want %q", fn, k, got, v)
			}
		}
		var pol struct{ Policy string }
		lambdaGet("/2015-03-31/functions/"+out[fn]+"/policy", &pol)
		var doc struct {
			Statement []struct {
				Principal struct{ Service string }
				Condition struct {
					ArnLike      map[string]string
					StringEquals map[string]string
				}
			}
		}
		if err := json.Unmarshal([]byte(pol.Policy), &doc); err != nil || len(doc.Statement) != len(wantSource[fn]) {
			t.Errorf("%s resource policy %q: want %d statements (%v)", fn, pol.Policy, len(wantSource[fn]), err)
			continue
		}
		var sources []string
		for _, s := range doc.Statement {
			sources = append(sources, s.Condition.ArnLike["AWS:SourceArn"])
			if s.Condition.StringEquals["AWS:SourceAccount"] != motoAccount {
				t.Errorf("%s may be invoked by %s from %v in %v, want only in %s", fn, s.Principal.Service,
					s.Condition.ArnLike, s.Condition.StringEquals, motoAccount)
			}
		}
		slices.Sort(sources)
		if want := slices.Sorted(slices.Values(wantSource[fn])); !slices.Equal(sources, want) {
			t.Errorf("%s may be invoked from %v, want only from %v", fn, sources, want)
		}
	}

	skipped := map[string]bool{}
	for _, m := range regexp.MustCompile(`No Moto CloudFormation support for (\S+)`).FindAllStringSubmatch(moto.Output(), -1) {
		skipped[m[1]] = true
	}
	if got := slices.Sorted(maps.Keys(skipped)); !slices.Equal(got, motoUnsupported) {
		t.Errorf("moto skipped %v, want %v: update motoUnsupported and infra/README.md", got, motoUnsupported)
	}
}

// signedGet GETs url signed for the Lambda API and decodes the JSON answer.
func signedGet(ctx context.Context, cfg aws.Config, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "lambda", cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body.String())
	}
	return json.Unmarshal(body.Bytes(), v)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
