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

func TestLogRetentionDaysFromContext(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    int
		wantErr string
	}{
		{name: "default when unset", want: defaultLogRetentionDays},
		{name: "number from cdk.json", value: float64(90), want: 90},
		{name: "string from -c", value: "365", want: 365},
		{name: "not a CloudWatch retention", value: float64(10), wantErr: "use one of 1, 3, 5, 7, 14, 30"},
		{name: "fraction", value: 30.5, wantErr: "not a retention"},
		{name: "not a number", value: "month", wantErr: "not a retention"},
		{name: "wrong type", value: true, wantErr: "must be a number of days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			if tt.value != nil {
				ctx[contextLogRetentionDays] = tt.value
			}
			got, err := logRetentionDays(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("logRetentionDays() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("logRetentionDays() = %d, %v, want %d", got, err, tt.want)
			}
		})
	}
}

func TestThresholdsFromContext(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    string
		wantErr string
	}{
		{name: "unset", want: ""},
		{name: "JSON text from -c", value: `{"temperature": {"max": 80}}`, want: `{"temperature":{"max":80}}`},
		{name: "object from cdk.json", value: map[string]any{"humidity": map[string]any{"min": 10.0}}, want: `{"humidity":{"min":10}}`},
		{name: "not JSON", value: "max=80", wantErr: "must be a JSON object"},
		{name: "JSON but not an object", value: "[1,2]", wantErr: "must be a JSON object"},
		{name: "wrong type", value: 80.0, wantErr: "must be a JSON object"},
		// The telemetry Lambda's schema, checked at synth.
		{name: "min above max", value: `{"temperature": {"min": 90, "max": 80}}`, wantErr: "temperature.min: is 90, above max 80"},
		{name: "a metric that sets nothing", value: map[string]any{"humidity": map[string]any{}}, wantErr: "humidity: sets nothing"},
		{name: "unknown field", value: `{"temperature": {"maximum": 80}}`, wantErr: "maximum"},
		{name: "not a metric name", value: `{"temp erature": {"max": 80}}`, wantErr: "not a metric name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			if tt.value != nil {
				ctx[contextThresholds] = tt.value
			}
			got, err := thresholds(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("thresholds() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("thresholds() = %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadConfigDefaultsAndLambdaDist(t *testing.T) {
	cfg, err := readConfig(awscdk.NewApp(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := appConfig{ThingGroupName: defaultThingGroupName, LogRetentionDays: defaultLogRetentionDays, LambdaDist: defaultLambdaDist,
		TelemetryReservedConcurrency: defaultTelemetryReservedConcurrency, HistoryRetentionDays: defaultHistoryRetentionDays, IoTLogLevel: defaultIoTLogLevel,
		GitHubBranch: defaultGitHubBranch}
	if cfg != want {
		t.Errorf("readConfig() = %+v, want %+v", cfg, want)
	}
	cfg, err = readConfig(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{contextLambdaDist: "/tmp/x"}}))
	if err != nil || cfg.LambdaDist != "/tmp/x" {
		t.Errorf("readConfig() LambdaDist = %q, %v, want /tmp/x", cfg.LambdaDist, err)
	}
	if _, err := readConfig(awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{contextLambdaDist: ""}})); err == nil {
		t.Error("readConfig() accepted an empty lambdaDist")
	}
}

func TestTelemetryReservedConcurrencyFromContext(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    int
		wantErr string
	}{
		{name: "default when unset", want: defaultTelemetryReservedConcurrency},
		{name: "number from cdk.json", value: float64(25), want: 25},
		{name: "string from -c", value: "40", want: 40},
		{name: "zero reserves none", value: "0", want: 0},
		{name: "negative", value: float64(-1), wantErr: "whole number from 1 to 1000, or 0"},
		{name: "over the default account limit", value: float64(1001), wantErr: "not a concurrency"},
		{name: "fraction", value: 2.5, wantErr: "not a concurrency"},
		{name: "wrong type", value: true, wantErr: "not a concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			if tt.value != nil {
				ctx[contextTelemetryConcurrency] = tt.value
			}
			got, err := telemetryConcurrency(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("telemetryConcurrency() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("telemetryConcurrency() = %d, %v, want %d", got, err, tt.want)
			}
		})
	}
}

func TestHistoryRetentionDaysFromContext(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    int
		wantErr string
	}{
		{name: "default when unset", want: defaultHistoryRetentionDays},
		{name: "number from cdk.json", value: float64(90), want: 90},
		{name: "string from -c", value: "30", want: 30},
		{name: "zero keeps forever", value: float64(0), want: 0},
		{name: "negative", value: "-5", wantErr: "use 1 to 3653, or 0 to keep"},
		{name: "fraction", value: 1.5, wantErr: "not a number of days"},
		{name: "wrong type", value: []any{1}, wantErr: "not a number of days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			if tt.value != nil {
				ctx[contextHistoryRetentionDays] = tt.value
			}
			got, err := historyRetentionDays(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("historyRetentionDays() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("historyRetentionDays() = %d, %v, want %d", got, err, tt.want)
			}
		})
	}
}

func TestAppRefusesToSynthWithBadThresholdsNamingTheField(t *testing.T) {
	_, err := newApp(&awscdk.AppProps{Context: &map[string]any{contextLambdaDist: placeholderDist, contextThresholds: `{"temperature":{"zScore":-1}}`}})
	if err == nil || !strings.Contains(err.Error(), "context value thresholds") || !strings.Contains(err.Error(), "temperature.zScore") {
		t.Fatalf("newApp with a negative zScore: error %v, want one naming the context value and temperature.zScore", err)
	}
}
