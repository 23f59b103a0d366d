package component

import (
	"reflect"
	"testing"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestEnvFromReadsTheNucleusContractAndDefaultsTheBrokerURLs(t *testing.T) {
	vars := map[string]string{
		wire.EnvNATSUser:         "u",
		wire.EnvNATSPassword:     "p",
		wire.EnvComponentName:    "com.example.C",
		wire.EnvComponentVersion: "1.2.3",
		wire.EnvThingName:        "thing-1",
		"AWS_REGION":             "eu-west-1",
		wire.EnvRoot:             "/var/lib/sward",
		wire.EnvWorkPath:         "/var/lib/sward/work/com.example.C",
	}
	got := EnvFrom(func(k string) string { return vars[k] })
	want := Env{
		NATSURL: DefaultNATSURL, NATSUser: "u", NATSPassword: "p", MQTTURL: DefaultMQTTURL,
		Name: "com.example.C", Version: "1.2.3", ThingName: "thing-1", Region: "eu-west-1",
		Root: "/var/lib/sward", WorkPath: "/var/lib/sward/work/com.example.C",
	}
	if got != want {
		t.Fatalf("EnvFrom = %+v, want %+v", got, want)
	}
}

func TestValidToken(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"letters digits dash underscore", "pump_1-A", false},
		{"empty", "", true},
		{"dot splits a subject", "pump.1", true},
		{"slash splits a topic", "pump/1", true},
		{"nats wildcard", "pump*", true},
		{"nats tail wildcard", ">", true},
		{"mqtt wildcards", "pump+#", true},
		{"space", "pump 1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidToken(tt.in); (err != nil) != tt.wantErr {
				t.Fatalf("ValidToken(%q) = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"json array from a recipe variable", `["pump-1","fan-2"]`, []string{"pump-1", "fan-2"}, false},
		{"empty json array", `[]`, []string{}, false},
		{"comma separated with blanks", " pump-1, ,fan-2 ", []string{"pump-1", "fan-2"}, false},
		{"empty string", "", nil, false},
		{"json array of numbers", `[1,2]`, nil, true},
		{"broken json", `["pump-1"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseList(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseList(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}
