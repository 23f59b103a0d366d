package authz

import (
	"slices"
	"testing"
)

func TestMQTTClientIDsAreTheNameWithDashesAloneAndAfterTheThing(t *testing.T) {
	tests := []struct {
		component, thing string
		want             []string
	}{
		{"com.example.Sensor", "test-thing", []string{"com-example-Sensor", "test-thing-com-example-Sensor"}},
		{"Plain", "pi.5", []string{"Plain", "pi-5-Plain"}},
		{"a b*c>d", "t", []string{"a-b-c-d", "t-a-b-c-d"}},
	}
	for _, tt := range tests {
		if got := MQTTClientIDs(tt.component, tt.thing); !slices.Equal(got, tt.want) {
			t.Errorf("MQTTClientIDs(%q, %q) = %q, want %q", tt.component, tt.thing, got, tt.want)
		}
	}
}
