package cli

import (
	"strings"
	"testing"

	"github.com/sward-iot/sward/edge/devconfig"
)

func TestConfigFileSetsOnlyTheFlagsTheCommandLineLeftAndTheSwardSectionWinsOverGreengrassKeys(t *testing.T) {
	t.Setenv("SWARD_ROOT", "")
	f, _, err := devconfig.Parse("c.yaml", []byte(`
system:
  thingName: file-thing
  rootpath: /srv/sward
services:
  aws.greengrass.Nucleus:
    configuration:
      awsRegion: eu-north-1
      logging: {level: TRACE}
      platformOverride: {npu: rknn, os: linux}
      runWithDefault:
        posixUser: ggc_user:ggc_group
        systemResourceLimits: {cpus: 0.5, memory: 1024}
sward:
  region: ap-south-1
  shadow-rate: 7
  mqtt-listen: "off"
  colour: blue
`))
	if err != nil {
		t.Fatal(err)
	}
	root := NewRootCommand()
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ParseFlags([]string{"--thing-name", "flag-thing", "--shadow-rate", "9"}); err != nil {
		t.Fatal(err)
	}
	warnings, err := applyConfig(run, "c.yaml", f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"thing-name":            "flag-thing",        // the command line wins
		"shadow-rate":           "9",                 // over the sward section too
		"region":                "ap-south-1",        // the sward section wins over awsRegion
		"mqtt-listen":           "off",               // a sward setting
		"root":                  "/srv/sward",        // system.rootpath
		"log-level":             "debug",             // TRACE is slog's debug
		"platform":              "npu=rknn,os=linux", // platformOverride, sorted
		"run-as":                "ggc_user:ggc_group",
		"default-system-limits": `{"cpus":0.5,"memory":1024}`,
	}
	for name, v := range want {
		if got := lookupFlag(run, name).Value.String(); got != v {
			t.Errorf("--%s = %q, want %q", name, got, v)
		}
	}
	if len(warnings) != 1 || warnings[0].Path != "sward.colour" || warnings[0].Line != 18 {
		t.Errorf("warnings = %+v, want sward.colour on line 18", warnings)
	}
}

func TestConfigFileValueAFlagRejectsIsNamedByItsPlaceInTheFile(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"sward:\n  shadow-rate: many\n", `config file c.yaml, line 2: sward.shadow-rate: expected an integer (what --shadow-rate takes), got "many"`},
		{"sward:\n  component-uids: perhaps\n", `line 2: sward.component-uids: expected true or false`},
		{"services:\n  aws.greengrass.Nucleus:\n    configuration:\n      platformOverride: {npu: \"a b\"}\n", `line 4: services.aws.greengrass.Nucleus.configuration.platformOverride: platform entry "npu=a b" contains a space`},
		{"services:\n  aws.greengrass.Nucleus:\n    configuration:\n      runWithDefault:\n        systemResourceLimits: {cpus: -1}\n", `services.aws.greengrass.Nucleus.configuration.runWithDefault.systemResourceLimits`},
	}
	for _, tt := range tests {
		f, _, err := devconfig.Parse("c.yaml", []byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		run, _, _ := NewRootCommand().Find([]string{"run"})
		_, err = applyConfig(run, "c.yaml", f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v\nwant it to contain %q", tt.yaml, err, tt.want)
		}
	}
}
