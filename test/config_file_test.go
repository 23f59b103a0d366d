package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// seenRecipe writes the thing name and region it sees, and what its
// configuration's {iot:thingName} became.
const seenRecipe = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Seen
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
    thing: "{iot:thingName}"
Manifests:
  - Lifecycle:
      Run: "echo \"$AWS_IOT_THING_NAME $AWS_REGION {configuration:/thing}\" > {work:path}/seen.txt; exec sleep 300"
`

func TestRunConfigFileSetsWhatTheCommandLineDoesNotAndFlagsWin(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "recipes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recipes", "seen.yaml"), []byte(seenRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	// The harness passes --thing-name test-thing: it wins over
	// system.thingName. The region, interpolation (Greengrass keys) and
	// the recipes folder (sward section, relative to the file) come from
	// the file.
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(`
system:
  thingName: file-thing
  certificateFilePath: device.pem.crt
  privateKeyPath: private.pem.key
  rootCaPath: ca.pem
services:
  aws.greengrass.Nucleus:
    componentType: NUCLEUS
    version: "2.5.0"
    configuration:
      awsRegion: eu-north-1
      iotDataEndpoint: 127.0.0.1
      iotCredEndpoint: 127.0.0.1:8443
      iotRoleAlias: SwardTokenExchangeRoleAlias
      interpolateComponentConfiguration: true
      mqtt:
        port: 8883
sward:
  recipes: recipes
  shadow-rate: 30
  colour: blue
`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := harness.Start(t, "", "", "--config", config)
	n.WaitState("test.Seen", 30*time.Second, "RUNNING")
	seen := filepath.Join(n.Root, "work", "test.Seen", "seen.txt")
	want := "test-thing eu-north-1 test-thing"
	harness.Eventually(t, 15*time.Second, "the component sees the flag's thing name and the file's region", func() error {
		data, err := os.ReadFile(seen)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(data)); got != want {
			return fmt.Errorf("seen.txt says %q, want %q", got, want)
		}
		return nil
	})
	out := n.Output()
	if !strings.Contains(out, `"key":"sward.colour","line":22`) {
		t.Errorf("no warning naming sward.colour and its line:\n%s", out)
	}
	if !strings.Contains(out, `"requestsPerSecondPerThing":30`) {
		t.Errorf("sward.shadow-rate 30 not applied:\n%s", out)
	}
}

func TestRunConfigFileErrorsNameTheFileKeyAndFix(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), []string{"nope.yaml does not exist", "sward provision"}},
		{"wrong type in the Greengrass part", write("port.yaml", "services:\n  aws.greengrass.Nucleus:\n    configuration:\n      mqtt:\n        port: [8883]\n"),
			[]string{"port.yaml, line 5: services.aws.greengrass.Nucleus.configuration.mqtt.port: expected an integer, got a list"}},
		{"wrong type for a flag", write("flag.yaml", "sward:\n  deployment-timeout: soon\n"),
			[]string{"flag.yaml, line 2: sward.deployment-timeout: expected a duration such as 90s or 5m"}},
		{"link without certificate", write("cloud.yaml", "system:\n  thingName: d\nservices:\n  aws.greengrass.Nucleus:\n    configuration:\n      iotDataEndpoint: example.com\n"),
			[]string{"cloud.yaml", "system.certificateFilePath is missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := harness.RunCLI(t, "run", "--root", t.TempDir(), "--config", tt.file)
			if err == nil {
				t.Fatalf("sward run started with %s:\n%s", tt.file, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q\nwant it to contain %q", out, w)
				}
			}
		})
	}
}
