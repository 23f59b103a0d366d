package devconfig

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAGreengrassConfigFromTheAWSDocsIsReadUnchangedWithoutWarnings(t *testing.T) {
	f, warnings, err := Load("testdata/greengrass-manual-install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings for a Greengrass file: %v", warnings)
	}
	want := System{
		CertificateFilePath: "/greengrass/v2/device.pem.crt",
		PrivateKeyPath:      "/greengrass/v2/private.pem.key",
		RootCAPath:          "/greengrass/v2/AmazonRootCA1.pem",
		RootPath:            "/greengrass/v2",
		ThingName:           "MyGreengrassCore",
	}
	if f.System != want {
		t.Errorf("system = %+v, want %+v", f.System, want)
	}
	if f.NucleusVersion != "2.5.0" || f.Nucleus.GreengrassDataPlanePort != 443 {
		t.Errorf("version %q, data plane port %d", f.NucleusVersion, f.Nucleus.GreengrassDataPlanePort)
	}
	wantProxy := NetworkProxy{NoProxyAddresses: "http://192.168.0.1,www.example.com",
		Proxy: Proxy{URL: "https://my-proxy-server:1100", Username: "Mary_Major", Password: "pass@word1357"}}
	got := f.Cloud()
	wantCloud := Cloud{
		ThingName: "MyGreengrassCore", Region: "us-west-2",
		DataEndpoint: "device-data-prefix-ats.iot.us-west-2.amazonaws.com", Port: 443,
		CredentialsEndpoint: "device-credentials-prefix.credentials.iot.us-west-2.amazonaws.com",
		RoleAlias:           "GreengrassCoreTokenExchangeRoleAlias",
		CertificateFile:     "/greengrass/v2/device.pem.crt", PrivateKeyFile: "/greengrass/v2/private.pem.key",
		RootCAFile: "/greengrass/v2/AmazonRootCA1.pem",
		KeepAlive:  DefaultKeepAlive, PingTimeout: DefaultPingTimeout, OperationTimeout: DefaultOperationTimeout,
		MinReconnectDelay: DefaultMinReconnectDelay, MaxReconnectDelay: DefaultMaxReconnectDelay, ReconnectResetAfter: DefaultReconnectResetAfter,
		SpoolMaxBytes: DefaultSpoolMaxBytes, Proxy: wantProxy, FleetStatusInterval: DefaultFleetStatusInterval,
	}
	if !reflect.DeepEqual(got, wantCloud) {
		t.Errorf("Cloud() =\n%+v\nwant\n%+v", got, wantCloud)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseReadsEveryNucleusSettingSwardUses(t *testing.T) {
	f, warnings, err := Parse("c.yaml", []byte(`
system:
  thingName: dev1
services:
  aws.greengrass.Nucleus:
    configuration:
      awsRegion: eu-west-1
      iotDataEndpoint: 127.0.0.1:18883
      iotCredEndpoint: 127.0.0.1:18443
      iotRoleAlias: SwardTokenExchangeRoleAlias
      interpolateComponentConfiguration: true
      componentStoreMaxSizeBytes: 10000000000
      deploymentPollingFrequencySeconds: 15
      fleetStatus:
        periodicStatusPublishIntervalSeconds: 3600
      mqtt:
        keepAliveTimeoutMs: 30000
        pingTimeoutMs: "10000"
        maxInFlightPublishes: 10
        version: mqtt5
        minimumReconnectDelaySeconds: 2
        maximumReconnectDelaySeconds: 60
        spooler:
          maxSizeInBytes: 2.62144e+06
          keepQos0WhenOffline: "true"
          storageType: Disk
      platformOverride:
        npu: rknn
        architecture: aarch64
      runWithDefault:
        posixUser: ggc_user:ggc_group
        systemResourceLimits:
          cpus: 0.5
          memory: 102400
      logging:
        level: DEBUG
        format: JSON
sward:
  recipes: ./recipes
  shadow-rate: 50
  component-uids: true
  metrics-listen: ~
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	n := f.Nucleus
	if n.InterpolateComponentConfiguration == nil || !*n.InterpolateComponentConfiguration {
		t.Error("interpolateComponentConfiguration not read")
	}
	if n.ComponentStoreMaxSizeBytes != 10000000000 || n.DeploymentPollingFrequencySeconds != 15 {
		t.Errorf("store %d, polling %d", n.ComponentStoreMaxSizeBytes, n.DeploymentPollingFrequencySeconds)
	}
	if !reflect.DeepEqual(n.PlatformOverride, map[string]string{"npu": "rknn", "architecture": "aarch64"}) {
		t.Errorf("platformOverride = %v", n.PlatformOverride)
	}
	if n.RunWithDefault.PosixUser != "ggc_user:ggc_group" || *n.RunWithDefault.SystemResourceLimits != (SystemResourceLimits{CPUs: 0.5, Memory: 102400}) {
		t.Errorf("runWithDefault = %+v", n.RunWithDefault)
	}
	if n.Logging.Level != "DEBUG" || n.MQTT.Spooler.StorageType != "Disk" {
		t.Errorf("logging %+v, spooler %+v", n.Logging, n.MQTT.Spooler)
	}
	c := f.Cloud()
	if c.DataEndpoint != "127.0.0.1" || c.Port != 18883 {
		t.Errorf("a host:port endpoint gives host %q port %d, want 127.0.0.1 18883", c.DataEndpoint, c.Port)
	}
	if c.CredentialsEndpoint != "127.0.0.1:18443" {
		t.Errorf("credentials endpoint %q keeps its port", c.CredentialsEndpoint)
	}
	if c.KeepAlive != 30*time.Second || c.PingTimeout != 10*time.Second || c.MaxInFlightPublishes != 10 {
		t.Errorf("keepalive %v, ping %v, in flight %d", c.KeepAlive, c.PingTimeout, c.MaxInFlightPublishes)
	}
	if c.MinReconnectDelay != 2*time.Second || c.MaxReconnectDelay != time.Minute || c.ReconnectResetAfter != DefaultReconnectResetAfter {
		t.Errorf("reconnect %v..%v, reset after %v", c.MinReconnectDelay, c.MaxReconnectDelay, c.ReconnectResetAfter)
	}
	if c.SpoolMaxBytes != 2621440 || !c.KeepQoS0WhenOffline {
		t.Errorf("spool %d, qos0 %v", c.SpoolMaxBytes, c.KeepQoS0WhenOffline)
	}
	if c.FleetStatusInterval != time.Hour {
		t.Errorf("fleet status interval %v, want the file's 3600 s", c.FleetStatusInterval)
	}
	if d := (&File{Nucleus: Nucleus{IoTDataEndpoint: "x"}}).Cloud().FleetStatusInterval; d != 24*time.Hour {
		t.Errorf("default fleet status interval %v, want Greengrass's 86400 s", d)
	}
	wantSward := []Setting{
		{Name: "recipes", Value: "./recipes", Line: 39},
		{Name: "shadow-rate", Value: "50", Line: 40},
		{Name: "component-uids", Value: "true", Line: 41},
		{Name: "metrics-listen", Value: "", Line: 42},
	}
	if !reflect.DeepEqual(f.Sward, wantSward) {
		t.Errorf("sward = %+v\nwant %+v", f.Sward, wantSward)
	}
}

func TestTheSecretManagerConfigurationNamesTheCloudSecrets(t *testing.T) {
	f, warnings, err := Parse("c.yaml", []byte(`services:
  aws.greengrass.SecretManager:
    componentType: PLUGIN
    version: 2.2.0
    configuration:
      cloudSecrets:
        - arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf
        - arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:api-GhIjKl
          colour: blue
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf", "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-GhIjKl"}
	if got := f.SecretManager.ARNs(); !reflect.DeepEqual(got, want) {
		t.Errorf("ARNs = %q, want %q", got, want)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0].String(), "line 9: services.aws.greengrass.SecretManager.configuration.cloudSecrets[1].colour: unknown key") {
		t.Errorf("warnings = %v, want one for the unknown key colour on line 9", warnings)
	}
}

func TestUnknownKeysAreWarnedWithTheirPathAndLine(t *testing.T) {
	_, warnings, err := Parse("c.yaml", []byte(`system:
  thingName: dev1
  thingname: typo
services:
  aws.greengrass.Nucleus:
    componentType: NUCLEUS
    dependencies: []
    extra: 1
    configuration:
      jvmOptions: "-Xmx64m"
      mqtt:
        spooler:
          maxSizeInByte: 10
  aws.greengrass.Cli:
    configuration: {}
colour: blue
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		"line 3: system.thingname: unknown key",
		"line 8: services.aws.greengrass.Nucleus.extra: unknown key",
		"line 13: services.aws.greengrass.Nucleus.configuration.mqtt.spooler.maxSizeInByte: unknown key, ignored: known here: keepQos0WhenOffline, maxSizeInBytes, pluginName, storageType",
		"line 14: services.aws.greengrass.Cli: not read",
		"line 16: colour: unknown key",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

func TestBadInputIsAnErrorNamingThePathLineAndExpectedType(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"port is text", "services:\n  aws.greengrass.Nucleus:\n    configuration:\n      mqtt:\n        port: eighty\n",
			`config file c.yaml, line 5: services.aws.greengrass.Nucleus.configuration.mqtt.port: expected an integer, got "eighty"`},
		{"a flag value that is a list", "sward:\n  recipes: [a, b]\n",
			`config file c.yaml, line 2: sward.recipes: expected a single value (what the flag --recipes takes), got a list`},
		{"bool is a word", "services:\n  aws.greengrass.Nucleus:\n    configuration:\n      mqtt:\n        spooler:\n          keepQos0WhenOffline: maybe\n",
			`line 6: services.aws.greengrass.Nucleus.configuration.mqtt.spooler.keepQos0WhenOffline: expected true or false, got "maybe"`},
		{"system is a list", "system:\n  - thingName: x\n", `line 2: system: expected a mapping, got a list`},
		{"thing name is a mapping", "system:\n  thingName: {a: 1}\n", `line 2: system.thingName: expected a string, got a mapping`},
		{"fractional size", "services:\n  aws.greengrass.Nucleus:\n    configuration:\n      mqtt:\n        spooler:\n          maxSizeInBytes: 1.5\n",
			`maxSizeInBytes: expected an integer, got "1.5"`},
		{"platformOverride value is a list", "services:\n  aws.greengrass.Nucleus:\n    configuration:\n      platformOverride:\n        npu: [a]\n",
			`line 5: services.aws.greengrass.Nucleus.configuration.platformOverride.npu: expected a single value, got a list`},
		{"cloudSecrets is a mapping", "services:\n  aws.greengrass.SecretManager:\n    configuration:\n      cloudSecrets:\n        arn: x\n",
			`line 5: services.aws.greengrass.SecretManager.configuration.cloudSecrets: expected a list, got a mapping`},
		{"a secret's arn is a list", "services:\n  aws.greengrass.SecretManager:\n    configuration:\n      cloudSecrets:\n        - arn: [x]\n",
			`line 5: services.aws.greengrass.SecretManager.configuration.cloudSecrets[0].arn: expected a string, got a list`},
		{"top level is a list", "- a\n- b\n", `expected a mapping with system, services and sward, got a list`},
		{"YAML syntax", "system:\n  thingName: [unclosed\n", `config file c.yaml: line `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("c.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestAnEmptyFileIsAnEmptyConfiguration(t *testing.T) {
	for _, text := range []string{"", "---\n", "# nothing yet\n", "~\n"} {
		f, warnings, err := Parse("c.yaml", []byte(text))
		if err != nil || len(warnings) != 0 || f.Cloud().Configured() {
			t.Errorf("%q: %+v %v %v", text, f, warnings, err)
		}
	}
}

func TestLoadSaysWhatToDoAboutAMissingFileAndResolvesPathsAgainstItsFolder(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(filepath.Join(dir, "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "sward provision") {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("system:\n  thingName: d\n  certificateFilePath: device.pem.crt\n  privateKeyPath: /abs/key\n  rootCaPath: ca.pem\nservices:\n  aws.greengrass.Nucleus:\n    configuration:\n      iotDataEndpoint: example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cloud()
	if c.CertificateFile != filepath.Join(dir, "device.pem.crt") || c.PrivateKeyFile != "/abs/key" || c.RootCAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("paths: %q %q %q", c.CertificateFile, c.PrivateKeyFile, c.RootCAFile)
	}
}

func TestValidateNamesWhatALinkLacks(t *testing.T) {
	f, _, err := Parse("c.yaml", []byte("services:\n  aws.greengrass.Nucleus:\n    configuration:\n      iotDataEndpoint: example.com\n      mqtt: {port: 70000, minimumReconnectDelaySeconds: 300}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Cloud().Validate()
	for _, want := range []string{"system.thingName is missing", "system.certificateFilePath is missing", "system.privateKeyPath is missing", "system.rootCaPath is missing", "mqtt.port 70000 is not a port", "minimumReconnectDelaySeconds (5m0s) is above maximumReconnectDelaySeconds (2m0s)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
	if err := (Cloud{}).Validate(); err != nil {
		t.Errorf("no link is valid: %v", err)
	}
}

func TestMarshalWritesWhatParseReadsBack(t *testing.T) {
	yes := true
	in := &File{
		System:         System{CertificateFilePath: "/d/device.pem.crt", PrivateKeyPath: "/d/private.pem.key", RootCAPath: "/d/AmazonRootCA1.pem", RootPath: "/var/lib/sward", ThingName: "dev1"},
		NucleusVersion: "2.5.0",
		Nucleus: Nucleus{AWSRegion: "us-east-1", IoTDataEndpoint: "127.0.0.1", IoTCredEndpoint: "127.0.0.1:4443", IoTRoleAlias: "Alias",
			InterpolateComponentConfiguration: &yes,
			MQTT:                              MQTT{Port: 18883, Spooler: Spooler{MaxSizeInBytes: 1 << 20, KeepQos0WhenOffline: true}}},
		SecretManager: SecretManager{CloudSecrets: []CloudSecret{{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}}},
		Sward:         []Setting{{Name: "mqtt-listen", Value: "127.0.0.1:1883"}, {Name: "shadow-rate", Value: "10"}},
	}
	data, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Parse("c.yaml", data)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %v\n%s", err, warnings, data)
	}
	for i := range out.Sward {
		out.Sward[i].Line = 0
	}
	if out.Line("system.thingName") != 6 {
		t.Errorf("system.thingName is on line %d, want 6:\n%s", out.Line("system.thingName"), data)
	}
	out.lines = nil
	if !reflect.DeepEqual(out, in) {
		t.Errorf("read back\n%+v\nwant\n%+v\nfile:\n%s", out, in, data)
	}
	if !strings.Contains(string(data), "componentType: NUCLEUS") || strings.Contains(string(data), "networkProxy") {
		t.Errorf("file is not Greengrass's shape or has empty blocks:\n%s", data)
	}
}

func TestTheMQTTBridgesDocumentedExampleIsReadUnchanged(t *testing.T) {
	f, warnings, err := Load("testdata/greengrass-bridge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings for the documented example: %v", warnings)
	}
	want := []TopicMapping{
		{Name: "ClientDeviceCloudStatusUpdate", Topic: "status/#", Source: "LocalMqtt", Target: "IotCore", TargetTopicPrefix: "$aws/rules/StatusUpdateRule/"},
		{Name: "ClientDeviceEvents", Topic: "clients/+/detections", Source: "LocalMqtt", Target: "Pubsub", TargetTopicPrefix: "events/input/"},
		{Name: "ClientDeviceHelloWorld", Topic: "clients/+/hello/world", Source: "LocalMqtt", Target: "IotCore"},
	}
	if got := f.TopicMappings(); !reflect.DeepEqual(got, want) {
		t.Errorf("TopicMappings() =\n%+v\nwant\n%+v", got, want)
	}

	t.Run("written back and read again", func(t *testing.T) {
		out, err := Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := Parse("out.yaml", out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := g.TopicMappings(); !reflect.DeepEqual(got, want) {
			t.Errorf("after Marshal and Parse: %+v\n%s", got, out)
		}
	})
}

func TestBridgeMappingErrorsNameTheKey(t *testing.T) {
	_, warnings, err := Parse("c.yaml", []byte(`services:
  aws.greengrass.clientdevices.mqtt.Bridge:
    configuration:
      mqttTopicMapping:
        Up:
          topic: a/b
          source: LocalMqtt
          target: IotCore
          targetPrefix: x/
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].Path != BridgePath+".mqttTopicMapping.Up.targetPrefix" || warnings[0].Line != 9 {
		t.Errorf("warnings = %v, want one for the misspelt targetPrefix on line 9", warnings)
	}

	_, _, err = Parse("c.yaml", []byte(`services:
  aws.greengrass.clientdevices.mqtt.Bridge:
    configuration:
      mqttTopicMapping:
        Up: a/b
`))
	if err == nil || !strings.Contains(err.Error(), "line 5: "+BridgePath+".mqttTopicMapping.Up: expected a mapping") {
		t.Errorf("Parse: %v, want a type error naming mqttTopicMapping.Up on line 5", err)
	}
}
