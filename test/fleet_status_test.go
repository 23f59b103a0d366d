package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/lambdas/deploymentevents"
	"github.com/sward-iot/sward/test/harness"
)

const fleetRecipe = `RecipeFormatVersion: "2020-01-25"
ComponentName: com.example.Fleet
ComponentVersion: "1.2.3"
Manifests:
  - Platform: {os: linux}
    Lifecycle: {Run: "sleep 600"}
`

// TestAProvisionedNucleusConnectsToDevcloudAndItsComponentsReachTheDeviceStatusTable
// is the whole path with real parts: devcloud with the synthesized stack
// and the real deployment-events Lambda, `sward provision`, `sward run
// --config` with the files it wrote; the link connects, the fleet status
// service reports the component, the fleet status rule hands it to the
// Lambda, and DynamoDB shows it.
func TestAProvisionedNucleusConnectsToDevcloudAndItsComponentsReachTheDeviceStatusTable(t *testing.T) {
	dist := harness.LambdaDist(t, "release", "deployment-events")
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--lambdas", dist, "--rie", harness.RIE(t))
	out := filepath.Join(t.TempDir(), "device")
	// The harness runs the nucleus as test-thing.
	if text, err := provision(t, d, "--thing-name", "test-thing", "--out", out); err != nil {
		t.Fatalf("sward provision: %v\n%s", err, text)
	}
	config := filepath.Join(out, "config.yaml")
	// The Greengrass key for the cadence, in the nucleus's configuration.
	data, err := os.ReadFile(config)
	if err != nil || !strings.Contains(string(data), "    configuration:\n") {
		t.Fatalf("provision's config.yaml has no nucleus configuration (%v):\n%s", err, data)
	}
	cfg := strings.Replace(string(data), "    configuration:\n", "    configuration:\n      fleetStatus:\n        periodicStatusPublishIntervalSeconds: 86400\n", 1)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := devconfig.Load(config)
	if err != nil || loaded.Cloud().FleetStatusInterval != 24*time.Hour {
		t.Fatalf("config with fleetStatus: %v", err)
	}

	recipes := harness.WriteRecipes(t, map[string]string{"fleet.yaml": fleetRecipe})
	started := time.Now()
	n := harness.Start(t, recipes, "", "--config", config)
	n.WaitState("com.example.Fleet", 60*time.Second, "RUNNING")
	if strings.Contains(n.Output(), "fleetStatus") {
		t.Errorf("the nucleus warned about fleetStatus:\n%s", n.Output())
	}

	// The link is up: /metrics says so.
	harness.Eventually(t, 30*time.Second, "sward_iotcore_connected 1 on /metrics", func() error {
		url := n.MetricsURL()
		if url == "" {
			return fmt.Errorf("no metrics endpoint logged yet")
		}
		if !strings.HasPrefix(url, "http") {
			url = "http://" + url
		}
		resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "sward_iotcore_connected{") && strings.HasSuffix(line, " 1") {
				return nil
			}
		}
		return fmt.Errorf("sward_iotcore_connected is not 1:\n%s", grepLines(string(body), "sward_iotcore"))
	})

	// The fleet status reaches the device status table through the rule
	// and the Lambda, with the component RUNNING at its version.
	db := dynamodb.NewFromConfig(d.Info.AWSConfig())
	tables, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	statusTable := physical(t, tables.TableNames, "SwardCloud-DeviceStatusTable")
	harness.Eventually(t, 60*time.Second, "the device's components in the device status table", func() error {
		got, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(statusTable), ConsistentRead: aws.Bool(true),
			Key: map[string]dbtypes.AttributeValue{
				"thingName": &dbtypes.AttributeValueMemberS{Value: "test-thing"},
				"sortKey":   &dbtypes.AttributeValueMemberS{Value: deploymentevents.FleetKey},
			}})
		if err != nil {
			return err
		}
		l, ok := got.Item["components"].(*dbtypes.AttributeValueMemberL)
		if !ok {
			return fmt.Errorf("no fleet status item yet: %v", got.Item)
		}
		var comps []string
		for _, c := range l.Value {
			m := c.(*dbtypes.AttributeValueMemberM).Value
			comps = append(comps, attrS(m, "componentName")+"@"+attrS(m, "version")+"="+attrS(m, "state"))
		}
		if !strings.Contains(strings.Join(comps, " "), "com.example.Fleet@1.2.3=RUNNING") {
			return fmt.Errorf("components %v (trigger %s), want com.example.Fleet@1.2.3=RUNNING", comps, attrS(got.Item, "trigger"))
		}
		if attrS(got.Item, "overallDeviceStatus") != "HEALTHY" {
			return fmt.Errorf("overall %s, want HEALTHY", attrS(got.Item, "overallDeviceStatus"))
		}
		return nil
	})

	t.Logf("the component's fleet status was in DynamoDB %s after `sward run` started", time.Since(started).Round(time.Millisecond))

	// The startup deployment's end was reported too: the service hears
	// of it from the deployment records on the bus.
	harness.Eventually(t, 30*time.Second, "a DEPLOYMENT fleet status", func() error {
		for _, line := range strings.Split(n.Output(), "\n") {
			var l struct{ Msg, Trigger, Components string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fleet status sent" && l.Trigger == "DEPLOYMENT" &&
				strings.Contains(l.Components, "com.example.Fleet@1.2.3:RUNNING") {
				return nil
			}
		}
		return fmt.Errorf("no DEPLOYMENT report with com.example.Fleet@1.2.3 RUNNING in the log:\n%s", grepLines(n.Output(), "fleet status"))
	})

	// The device policy admits the link's further connections,
	// test-thing#2, and no other thing's name.
	c := loaded.Cloud()
	files := thingFiles{CertificateFilePath: c.CertificateFile, PrivateKeyPath: c.PrivateKeyFile, RootCaPath: c.RootCAFile}
	addr := net.JoinHostPort(c.DataEndpoint, strconv.Itoa(c.Port))
	second, err := dialThing(addr, "test-thing#2", deviceTLS(t, files), nil)
	if err != nil {
		t.Fatalf("connect as test-thing#2: %v\n%s", err, d.Output())
	}
	second.Disconnect(0)
	if other, err := dialThing(addr, "test-thing2", deviceTLS(t, files), nil); err == nil {
		other.Disconnect(0)
		t.Error("the device policy let test-thing's certificate connect as test-thing2")
	}
}

// grepLines is the lines of text that contain word.
func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// attrS is item's string attribute name, "" when it has none.
func attrS(item map[string]dbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*dbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
