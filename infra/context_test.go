package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

func TestThingGroupNameFromContext(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
		want    string
		wantErr string
	}{
		{name: "default when unset", want: defaultThingGroupName},
		{name: "given name", context: map[string]any{"thingGroupName": "orange-pi_fleet:1"}, want: "orange-pi_fleet:1"},
		{name: "empty name", context: map[string]any{"thingGroupName": ""}, wantErr: "not a valid IoT thing group name"},
		{name: "space in name", context: map[string]any{"thingGroupName": "my devices"}, wantErr: `"my devices" is not a valid`},
		{name: "too long", context: map[string]any{"thingGroupName": strings.Repeat("a", 129)}, wantErr: "1 to 128 characters"},
		{name: "not a string", context: map[string]any{"thingGroupName": 7}, wantErr: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(&awscdk.AppProps{Context: &tt.context})
			got, err := thingGroupName(app)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("thingGroupName() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("thingGroupName() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("thingGroupName() = %q, want %q", got, tt.want)
			}
		})
	}
}
