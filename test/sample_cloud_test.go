package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/shared/telemetry"
	"github.com/sward-iot/sward/test/harness"
)

// sampleRecipe is the committed recipe of a sample component with each
// old→new replacement made (the test's faster cadence), failing when one
// does not apply, so the test keeps running the real recipe.
func sampleRecipe(t *testing.T, name string, replace ...string) string {
	t.Helper()
	text := readFile(t, harness.RepoRoot(), filepath.Join("recipes", name, "recipe.yaml"))
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("recipe %s has no %q to replace", name, replace[i])
		}
		text = strings.Replace(text, replace[i], replace[i+1], 1)
	}
	return text
}

// TestTheSamplePipelineReachesTheCloudAndTheCloudsAlertsComeBack is the
// sample pipeline against devcloud with real parts: the real telemetry
// Lambda (vibration above 3.5 alerts), `sward provision`, `sward run
// --config` with the built sample components. The SensorSimulator's
// readings reach the telemetry archive in S3 and the state table through
// the telemetry rule, and the Lambda's alerts about its injected faults
// reach the AlertRecorder on the device, which journals them.
func TestTheSamplePipelineReachesTheCloudAndTheCloudsAlertsComeBack(t *testing.T) {
	dist := harness.LambdaDist(t, "telemetry")
	d := harness.StartDevcloud(t, templateWithThresholds(t, `{"vibration":{"max":3.5}}`), "", "--lambdas", dist, "--rie", harness.RIE(t))
	out := filepath.Join(t.TempDir(), "device")
	// The harness runs the nucleus as test-thing.
	if text, err := provision(t, d, "--thing-name", "test-thing", "--out", out); err != nil {
		t.Fatalf("sward provision: %v\n%s", err, text)
	}
	recipes := harness.WriteRecipes(t, map[string]string{
		// One sensor, two readings a second, a fault in one reading of five.
		"simulator.yaml": sampleRecipe(t, "com.sward.samples.SensorSimulator",
			`sensorIds: ["pump-1", "pump-2", "fan-1"]`, `sensorIds: ["pump-1"]`,
			"intervalMs: 1000", "intervalMs: 500",
			"faultRate: 0.005", "faultRate: 0.2"),
		"detector.yaml": sampleRecipe(t, "com.sward.samples.AnomalyDetector"),
		"recorder.yaml": sampleRecipe(t, "com.sward.samples.AlertRecorder"),
	})
	started := time.Now()
	n := harness.Start(t, recipes, harness.SampleArtifacts(t), "--config", filepath.Join(out, "config.yaml"))
	n.WaitState("com.sward.samples.AlertRecorder", 90*time.Second, "RUNNING")
	n.WaitState("com.sward.samples.SensorSimulator", 30*time.Second, "RUNNING")

	ctx := context.Background()
	cfg := d.Info.AWSConfig()
	s3c, bucket := telemetryArchive(t, cfg)
	harness.Eventually(t, 90*time.Second, "the simulator's readings in the telemetry archive", func() error {
		got, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("thing=test-thing/")})
		if err != nil {
			return err
		}
		for _, o := range got.Contents {
			if strings.Contains(aws.ToString(o.Key), "/pump-1-") {
				return nil
			}
		}
		return fmt.Errorf("no archive object of stream pump-1 under thing=test-thing/ (%d objects); the simulator said:\n%s",
			len(got.Contents), grepLines(componentLog(n, "com.sward.samples.SensorSimulator"), "IoT Core"))
	})

	archived := time.Since(started)

	db := dynamodb.NewFromConfig(cfg)
	tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	state := physical(t, tables.TableNames, "SwardCloud-TelemetryStateTable")
	// The Lambda archives a batch before it updates the state.
	harness.Eventually(t, 30*time.Second, "the state of pump-1's metrics in the state table", func() error {
		for _, metric := range []string{"vibration", "temperature"} {
			got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(state), ConsistentRead: aws.Bool(true),
				Key: map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "test-thing#pump-1#" + metric}}})
			if err != nil {
				return err
			}
			if len(got.Item) == 0 {
				return fmt.Errorf("no telemetry state for test-thing#pump-1#%s", metric)
			}
		}
		return nil
	})

	journal := filepath.Join(n.Root, "work", "com.sward.samples.AlertRecorder", "alerts.jsonl")
	harness.Eventually(t, 90*time.Second, "the cloud's vibration alert in the AlertRecorder's journal", func() error {
		data, err := os.ReadFile(journal)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			var e struct {
				Subject string
				Alert   json.RawMessage
			}
			if json.Unmarshal([]byte(line), &e) != nil || e.Subject != "sward/test-thing/alerts" {
				continue
			}
			a, err := telemetry.DecodeAlert(e.Alert)
			if err != nil {
				return fmt.Errorf("journalled cloud alert %s: %v", e.Alert, err)
			}
			if a.Stream == "pump-1" && a.Metric == "vibration" && a.Kind == telemetry.AboveMax && a.Value > 3.5 {
				return nil
			}
		}
		return fmt.Errorf("no ABOVE_MAX vibration alert from the cloud in the journal; the recorder said:\n%s",
			grepLines(componentLog(n, "com.sward.samples.AlertRecorder"), "cloud"))
	})
	t.Logf("after `sward run` started: the first reading archived in %s, the first cloud alert journalled in %s",
		archived.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
}

// telemetryArchive is an S3 client for devcloud and the physical name of
// the stack's telemetry archive bucket.
func telemetryArchive(t *testing.T, cfg aws.Config) (*s3.Client, string) {
	t.Helper()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	buckets, err := s3c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	return s3c, physical(t, names, "swardcloud-telemetrybucket")
}

// componentLog is the component's log file, "" when there is none yet.
func componentLog(n *harness.Nucleus, component string) string {
	data, _ := os.ReadFile(filepath.Join(n.Root, "logs", component+".log"))
	return string(data)
}
