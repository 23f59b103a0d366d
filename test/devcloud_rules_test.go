package test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/infra/devcloud/status"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// telemetryBatch is what a device publishes on sward/<thing>/telemetry/<stream>.
func telemetryBatch(value float64, at time.Time) []byte {
	return fmt.Appendf(nil, `{"formatVersion":1,"records":[{"metric":"temperature","value":%g,"timestamp":%d}]}`, value, at.UnixMilli())
}

// physical finds the name devcloud gave the template resource whose
// physical name starts with prefix (case-insensitive), among names.
func physical(t *testing.T, names []string, prefix string) string {
	t.Helper()
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(prefix)) {
			return n
		}
	}
	t.Fatalf("no %s… among %v", prefix, names)
	return ""
}

func publish(t *testing.T, c mqtt.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func TestDevcloudRulesRunTheTemplatesLambdasOnDeviceMessages(t *testing.T) {
	// The telemetry Lambda is built; deployment-events is not, so its rule's
	// Lambda cannot be invoked.
	dist := harness.LambdaDist(t, "telemetry")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	dev1 := createThing(t, d, "dev1", "--group", "sward-devices")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	ctx := context.Background()
	cfg := d.Info.AWSConfig()

	t.Run("telemetry reaches the telemetry Lambda through the rule and lands in S3 and DynamoDB", func(t *testing.T) {
		publish(t, c, "sward/dev1/telemetry/env", telemetryBatch(21.5, time.Now()))

		s3c, bucket := telemetryArchive(t, cfg)
		testutil.Eventually(t, "the telemetry archive object in moto S3", func() error {
			out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("thing=dev1/")})
			if err != nil {
				return err
			}
			if len(out.Contents) == 0 {
				return fmt.Errorf("no object under thing=dev1/ in %s; request log:\n%s", bucket, readFile(t, d.Data, devcloud.RequestLogFile))
			}
			if key := aws.ToString(out.Contents[0].Key); !strings.Contains(key, "/env-") {
				return fmt.Errorf("archive key %s does not name stream env", key)
			}
			return nil
		})

		db := dynamodb.NewFromConfig(cfg)
		tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatal(err)
		}
		state := physical(t, tables.TableNames, "SwardCloud-TelemetryStateTable")
		testutil.Eventually(t, "the telemetry state item in moto DynamoDB", func() error {
			out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(state)})
			if err != nil {
				return err
			}
			if out.Count == 0 {
				return errors.New("no item in " + state)
			}
			return nil
		})
		// The invoke line is written once the invocation has returned,
		// which may be after its writes are visible.
		var log string
		testutil.Eventually(t, "the rule and the invocation in the request log", func() error {
			log = readFile(t, d.Data, devcloud.RequestLogFile)
			for _, want := range []string{`msg="rule fired" rule=sward_telemetry topic=sward/dev1/telemetry/env clientId=dev1`, `msg="rule action" rule=sward_telemetry action=Lambda`, `msg="lambda invoke" function=SwardCloud-TelemetryFunction`} {
				if !strings.Contains(log, want) {
					return fmt.Errorf("request log lacks %q:\n%s", want, log)
				}
			}
			return nil
		})
		if lambdaLog := readFile(t, d.Data, filepath.Join(devcloud.LambdaLogDir, physical(t, []string{functionName(t, log)}, "SwardCloud-TelemetryFunction")+".log")); !strings.Contains(lambdaLog, `"msg":"ready"`) {
			t.Errorf("the telemetry function's log lacks its ready line:\n%s", lambdaLog)
		}
		// As in AWS, the function's output is in its log group (the
		// template's LoggingConfig) too.
		logs := cloudwatchlogs.NewFromConfig(cfg)
		groups, err := logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("SwardCloud-TelemetryFunctionLogs")})
		if err != nil || len(groups.LogGroups) != 1 {
			t.Fatalf("the telemetry function's log group: %+v %v", groups, err)
		}
		testutil.Eventually(t, "the telemetry function's ready line in its log group", func() error {
			out, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: groups.LogGroups[0].LogGroupName})
			if err != nil {
				return err
			}
			for _, e := range out.Events {
				if strings.Contains(aws.ToString(e.Message), `"msg":"ready"`) && strings.Contains(aws.ToString(e.LogStreamName), "/[$LATEST]") {
					return nil
				}
			}
			return fmt.Errorf("not among %d events", len(out.Events))
		})
	})

	t.Run("a rule whose Lambda cannot be invoked ends in its error action", func(t *testing.T) {
		status := []byte(`{"formatVersion":1,"jobId":"sward-0123","status":"SUCCEEDED"}`)
		publish(t, c, "sward/dev1/deployments/status", status)
		logs := cloudwatchlogs.NewFromConfig(cfg)
		groups, err := logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("SwardCloud-RuleErrorLogs")})
		if err != nil {
			t.Fatal(err)
		}
		if len(groups.LogGroups) != 1 {
			t.Fatalf("rule error log groups = %+v, want the template's one", groups.LogGroups)
		}
		group := groups.LogGroups[0].LogGroupName
		var msg struct {
			RuleName, Topic, CloudwatchTraceID, ClientID, Base64OriginalPayload string
			Failures                                                            []struct{ FailedAction, FailedResource, ErrorMessage string }
		}
		testutil.Eventually(t, "the error action's event in the rule-errors log group", func() error {
			out, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: group})
			if err != nil {
				return err
			}
			for _, e := range out.Events {
				if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &msg); err == nil && msg.RuleName == "sward_deployment_events" {
					return nil
				}
			}
			return fmt.Errorf("no event of sward_deployment_events among %d; request log:\n%s", len(out.Events), readFile(t, d.Data, devcloud.RequestLogFile))
		})
		if msg.Topic != "sward/dev1/deployments/status" || msg.ClientID != "dev1" || msg.CloudwatchTraceID == "" ||
			msg.Base64OriginalPayload != base64.StdEncoding.EncodeToString(status) {
			t.Errorf("error message = %+v, want the topic, client, a trace id and the original payload", msg)
		}
		if len(msg.Failures) != 1 || msg.Failures[0].FailedAction != "LambdaAction" || !strings.Contains(msg.Failures[0].FailedResource, ":function:SwardCloud-DeploymentEventsFunction") ||
			!strings.Contains(msg.Failures[0].ErrorMessage, "ResourceConflictException") || !strings.Contains(msg.Failures[0].ErrorMessage, "make lambdas GOARCH=") {
			t.Errorf("failures = %+v, want the Lambda action of the deployment-events function, Failed for want of a build", msg.Failures)
		}
	})
	if d.Exited() {
		t.Fatalf("devcloud exited:\n%s", d.Output())
	}

	t.Run("a killed devcloud leaves no emulator, bootstrap or moto_server behind", func(t *testing.T) {
		children := descendants(t, d.Info.PID)
		if len(children) < 3 { // moto_server, an emulator and its bootstrap
			t.Fatalf("devcloud's processes before the kill: %v, want moto_server and the telemetry Lambda's", children)
		}
		if err := syscall.Kill(d.Info.PID, syscall.SIGKILL); err != nil { // as a crash would
			t.Fatal(err)
		}
		testutil.Eventually(t, "devcloud killed", func() error {
			if !d.Exited() {
				return errors.New("still running")
			}
			return nil
		})
		testutil.Eventually(t, "devcloud's children gone", func() error {
			var alive []string
			for pid, cmd := range children {
				if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil && len(b) > 0 {
					alive = append(alive, cmd)
				}
			}
			if len(alive) > 0 {
				return fmt.Errorf("still running: %v", alive)
			}
			return nil
		})
	})
}

// descendants maps the pid of every process below pid to its command line.
func descendants(t *testing.T, pid int) map[int]string {
	t.Helper()
	parents := map[int]int{}
	cmds := map[int]string{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		parents[p], _ = strconv.Atoi(fields[1])
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cmds[p] = strings.ReplaceAll(string(cmd), "\x00", " ")
	}
	out := map[int]string{}
	var walk func(int)
	walk = func(parent int) {
		for p, pp := range parents {
			if pp == parent {
				if _, seen := out[p]; !seen {
					out[p] = cmds[p]
					walk(p)
				}
			}
		}
	}
	walk(pid)
	return out
}

// functionName is the function name in the request log's first invoke line.
func functionName(t *testing.T, log string) string {
	t.Helper()
	m := regexp.MustCompile(`msg="lambda invoke" function=(\S+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no lambda invoke in the request log:\n%s", log)
	}
	return m[1]
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDevcloudUpStopsOnARuleConstructItDoesNotRunNamingTheRuleAndTheConstruct(t *testing.T) {
	bin := harness.Tool(t, "./infra/devcloud/cmd/devcloud")
	for _, tt := range []struct {
		name, action, sql, want string
	}{
		{"an action", `{"Kinesis":{"StreamName":"s","RoleArn":"arn:aws:iam::123456789012:role/r"}}`, "SELECT * FROM 'a/+'", "rule to_kinesis (KinesisRule): unsupported rule action: Kinesis"},
		{"a SQL function", `{"Republish":{"Topic":"b","RoleArn":"arn:aws:iam::123456789012:role/r"}}`, "SELECT upper(name) AS n FROM 'a/+'", "rule to_kinesis (KinesisRule): unsupported rules SQL: function upper()"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			template := filepath.Join(dir, "template.json")
			doc := `{"Resources":{"KinesisRule":{"Type":"AWS::IoT::TopicRule","Properties":{"RuleName":"to_kinesis","TopicRulePayload":{
				"Sql":` + strconv.Quote(tt.sql) + `,"AwsIotSqlVersion":"2016-03-23","Actions":[` + tt.action + `]}}}}}`
			if err := os.WriteFile(template, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "up", "--template", template, "--data", filepath.Join(dir, "data"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("devcloud up ran with an unsupported rule:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("devcloud up said:\n%s\nwant it to say %q", out, tt.want)
			}
		})
	}
}

// templateWithThresholds is the synthesized template with SWARD_THRESHOLDS
// set on the telemetry function, as `-c thresholds=…` would set it.
func templateWithThresholds(t *testing.T, thresholds string) string {
	t.Helper()
	return templateWithFunctionEnv(t, "SWARD_TELEMETRY_BUCKET", "SWARD_THRESHOLDS", thresholds)
}

// templateWithFunctionEnv is the synthesized template with variable set to
// value in the environment of the function whose environment has the
// variable marker (its own setting, which tells the functions apart).
func templateWithFunctionEnv(t *testing.T, marker, variable, value string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(readFile(t, "", harness.SynthTemplate(t))), &doc); err != nil {
		t.Fatal(err)
	}
	set := false
	for _, r := range doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] != "AWS::Lambda::Function" {
			continue
		}
		env := res["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		if _, ok := env[marker]; ok {
			env[variable], set = value, true
		}
	}
	if !set {
		t.Fatalf("no function with %s in the template", marker)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "SwardCloud.template.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDevcloudRuleToLambdaLatency checks that a reading over its threshold
// comes back to the device as an alert (device → rule → telemetry Lambda
// → IoT data plane Publish → device) and prints, with the function warm,
// the time from the device's PUBLISH to the start of the Lambda
// invocation its rule causes, and to the alert's arrival
// (docs/performance.md).
func TestDevcloudRuleToLambdaLatency(t *testing.T) {
	dist := harness.LambdaDist(t, "telemetry")
	d := harness.StartDevcloud(t, templateWithThresholds(t, `{"temperature":{"max":80}}`), "", "--lambdas", dist, "--rie", harness.RIE(t))
	dev1 := createThing(t, d, "dev1")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	alerts := make(chan mqtt.Message, 16)
	if tok := c.Subscribe("sward/dev1/alerts", 1, func(_ mqtt.Client, m mqtt.Message) { alerts <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	invokes := regexp.MustCompile(`msg="lambda invoke" function=\S+ source="rule sward_telemetry" requestId=\S+ attempt=1 started=(\S+) waitMs=\S+ durationMs=(\S+) cold=(\w+) result=ok`)
	var toStart, toAlert, durations []time.Duration
	const warmup, n = 3, 40
	for i := range warmup + n {
		sent := time.Now()
		value := 90 + float64(i)
		publish(t, c, "sward/dev1/telemetry/env", telemetryBatch(value, sent))
		alert := testutil.Receive(t, alerts, "the alert of reading "+strconv.Itoa(i+1))
		arrived := time.Now()
		var a struct {
			Thing, Metric, Kind string
			Value               float64
		}
		if err := json.Unmarshal(alert.Payload(), &a); err != nil || a.Thing != "dev1" || a.Metric != "temperature" || a.Value != value {
			t.Fatalf("alert %s (%v), want dev1's temperature %g", alert.Payload(), err, value)
		}
		var m []string
		testutil.Eventually(t, "invocation "+strconv.Itoa(i+1)+" in the request log", func() error {
			all := invokes.FindAllStringSubmatch(readFile(t, d.Data, devcloud.RequestLogFile), -1)
			if len(all) < i+1 {
				return fmt.Errorf("%d invocations logged", len(all))
			}
			m = all[i]
			return nil
		})
		if i < warmup {
			continue
		}
		if m[3] != "false" {
			t.Fatalf("invocation %d was a cold start: want the warm instance reused", i+1)
		}
		started, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatal(err)
		}
		dur, _ := strconv.ParseFloat(m[2], 64)
		toStart = append(toStart, started.Sub(sent))
		toAlert = append(toAlert, arrived.Sub(sent))
		durations = append(durations, time.Duration(dur*float64(time.Millisecond)))
	}
	p := func(ds []time.Duration, q float64) time.Duration {
		s := slices.Clone(ds)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[int(q*float64(len(s)-1))].Round(10 * time.Microsecond)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("warm telemetry Lambda, %d messages: device PUBLISH → invocation start p50 %s, p90 %s; invocation (handler, S3 + DynamoDB + Publish) p50 %s; PUBLISH → alert at the device p50 %s, p90 %s; load %s",
		n, p(toStart, 0.5), p(toStart, 0.9), p(durations, 0.5), p(toAlert, 0.5), p(toAlert, 0.9), strings.TrimSpace(string(load)))
	if got := p(toStart, 0.5); got > 500*time.Millisecond {
		t.Errorf("p50 %s: far over the 50 ms goal", got)
	}
}

func TestDevcloudAReleaseManifestWrittenToTheArtifactsBucketInvokesTheReleaseLambda(t *testing.T) {
	dist := harness.LambdaDist(t, "release")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	if d.Info.Endpoints.S3 == "" {
		t.Fatalf("devcloud.json has no S3 endpoint: %+v", d.Info.Endpoints)
	}
	ctx := context.Background()
	// What `sward publish` does, with only the S3 endpoint changed: a
	// manifest whose commit is not the one in its key.
	cfg := d.Info.AWSConfig()
	cfg.BaseEndpoint = aws.String(d.Info.Endpoints.S3)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	const commit = "0123456789abcdef0123456789abcdef01234567"
	bucket := "sward-artifacts-" + d.Info.AccountID + "-" + d.Info.Region
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("releases/" + commit + "/release.json"),
		Body: strings.NewReader(`{"formatVersion":1,"commitId":"ffffffffffffffffffffffffffffffffffffffff"}`)}); err != nil {
		t.Fatal(err)
	}

	db := dynamodb.NewFromConfig(d.Info.AWSConfig())
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	releases := physical(t, tables.TableNames, "SwardCloud-ReleasesTable")
	testutil.Eventually(t, "the release Lambda's REJECTED record", func() error {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(releases), Key: map[string]dbtypes.AttributeValue{
			"jobId": &dbtypes.AttributeValueMemberS{Value: "sward-" + commit},
		}})
		if err != nil {
			return err
		}
		status, ok := out.Item["status"].(*dbtypes.AttributeValueMemberS)
		if !ok {
			return fmt.Errorf("no record of sward-%s in %s; request log:\n%s", commit, releases, readFile(t, d.Data, devcloud.RequestLogFile))
		}
		if status.Value != "REJECTED" {
			return fmt.Errorf("status %s, want REJECTED", status.Value)
		}
		return nil
	})
	log := readFile(t, d.Data, devcloud.RequestLogFile)
	for _, want := range []string{`msg="s3 notification" bucket=` + bucket + ` key=releases/` + commit + `/release.json event=ObjectCreated:Put`, `source="s3 ` + bucket + `"`} {
		if !strings.Contains(log, want) {
			t.Errorf("request log lacks %q:\n%s", want, log)
		}
	}
}

func TestDevcloudKeepsTheTemplatesBucketsAndTablesWithTheirDataAcrossARestart(t *testing.T) {
	template := harness.SynthTemplate(t)
	data := t.TempDir()
	first := harness.StartDevcloud(t, template, data)
	ctx := context.Background()
	s3cfg := first.Info.AWSConfig()
	s3cfg.BaseEndpoint = aws.String(first.Info.Endpoints.S3)
	bucket := "sward-artifacts-" + first.Info.AccountID + "-" + first.Info.Region
	if _, err := s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("recipes/a.yaml"), Body: strings.NewReader("kept"),
	}); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(first.Info.AWSConfig())
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	releases := physical(t, tables.TableNames, "SwardCloud-ReleasesTable")
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(releases), Item: map[string]dbtypes.AttributeValue{
		"jobId": &dbtypes.AttributeValueMemberS{Value: "sward-kept"},
	}}); err != nil {
		t.Fatal(err)
	}
	first.Stop()

	// A new moto_server: devcloud replays what the first one was asked.
	second := harness.StartDevcloud(t, template, data)
	if second.Info.Endpoints.AWS == first.Info.Endpoints.AWS {
		t.Fatalf("the second devcloud uses moto at %s too: want a new moto_server", second.Info.Endpoints.AWS)
	}
	obj, err := s3.NewFromConfig(second.Info.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("recipes/a.yaml"),
	})
	if err != nil {
		t.Fatalf("the object written before the restart: %v", err)
	}
	obj.Body.Close()
	item, err := dynamodb.NewFromConfig(second.Info.AWSConfig()).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(releases),
		Key: map[string]dbtypes.AttributeValue{"jobId": &dbtypes.AttributeValueMemberS{Value: "sward-kept"}}})
	if err != nil || len(item.Item) == 0 {
		t.Errorf("the item written before the restart: %v %v", item, err)
	}
}

// TestDevcloudALambdaThatRunsAndFailsIsRetriedByLambdaAndNeverReachesTheErrorAction
// follows AWS: a rule's Lambda action succeeds once Lambda queues the
// event, and a function error is Lambda's to retry (twice), not the rule's
// errorAction. The deployment-events function is given a table that does
// not exist, so each invocation fails; `--lambda-retry-delays` shortens
// Lambda's 1 and 2 minutes.
func TestDevcloudALambdaThatRunsAndFailsIsRetriedByLambdaAndNeverReachesTheErrorAction(t *testing.T) {
	dist := harness.LambdaDist(t, "deployment-events")
	const first, second = 400 * time.Millisecond, 800 * time.Millisecond
	d := harness.StartDevcloud(t, templateWithFunctionEnv(t, "SWARD_DEVICE_STATUS_TABLE", "SWARD_DEVICE_STATUS_TABLE", "no-such-table"), "",
		"--lambdas", dist, "--rie", harness.RIE(t), "--lambda-retry-delays", first.String()+","+second.String())
	dev1 := createThing(t, d, "dev1")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	publish(t, c, "sward/dev1/deployments/status", fmt.Appendf(nil, `{"formatVersion":1,"jobId":"sward-0123","status":"SUCCEEDED","timestamp":%d}`, time.Now().UnixMilli()))

	var log string
	testutil.Eventually(t, "the event dropped after its retries", func() error {
		log = readFile(t, d.Data, devcloud.RequestLogFile)
		if !strings.Contains(log, `msg="lambda event dropped after its retries: no on-failure destination or dead-letter queue"`) {
			return fmt.Errorf("not yet; request log:\n%s", log)
		}
		return nil
	})
	if !regexp.MustCompile(`msg="rule action" rule=sward_deployment_events action=Lambda resource=\S+:function:SwardCloud-DeploymentEventsFunction\S* .*result=ok`).MatchString(log) {
		t.Errorf("the rule's Lambda action did not succeed (Lambda accepted the event):\n%s", log)
	}
	// One line per attempt, the same event each time, each after its delay.
	attempts := regexp.MustCompile(`msg="lambda invoke" function=SwardCloud-DeploymentEventsFunction\S* source="rule sward_deployment_events" requestId=(\S+) attempt=(\d) started=(\S+) .*result=error error=`).FindAllStringSubmatch(log, -1)
	if len(attempts) != 3 {
		t.Fatalf("%d failed invocations logged, want 3 (the event and Lambda's two retries):\n%s", len(attempts), log)
	}
	var starts []time.Time
	for i, a := range attempts {
		if a[1] != attempts[0][1] || a[2] != strconv.Itoa(i+1) {
			t.Errorf("invocation %d: request %s attempt %s, want request %s attempt %d", i+1, a[1], a[2], attempts[0][1], i+1)
		}
		at, err := time.Parse(time.RFC3339Nano, a[3])
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, at)
	}
	if gap := starts[1].Sub(starts[0]); gap < first {
		t.Errorf("the first retry started %s after the first attempt, before its %s delay", gap, first)
	}
	if gap := starts[2].Sub(starts[1]); gap < second {
		t.Errorf("the second retry started %s after the first retry, before its %s delay", gap, second)
	}
	if n := strings.Count(log, `msg="lambda event to be retried" function=SwardCloud-DeploymentEventsFunction`); n != 2 {
		t.Errorf("%d retries announced, want 2:\n%s", n, log)
	}
	if strings.Contains(log, "rule error action") || strings.Contains(log, "rule actions failed") {
		t.Errorf("the errorAction ran for a function error:\n%s", log)
	}
	// What the function said is in its log, and the rule counts no failure.
	if lambdaLog := readFile(t, d.Data, filepath.Join(devcloud.LambdaLogDir, functionName(t, log)+".log")); !strings.Contains(lambdaLog, "no-such-table") {
		t.Errorf("the function's log does not name the missing table:\n%s", lambdaLog)
	}
	report := statusReport(t, d)
	i := slices.IndexFunc(report.Rules, func(r status.Rule) bool { return r.Name == "sward_deployment_events" })
	if i < 0 || report.Rules[i].Fired != 1 || report.Rules[i].Failures != 0 {
		t.Errorf("status rules = %+v, want sward_deployment_events fired once with no failed action", report.Rules)
	}
}
