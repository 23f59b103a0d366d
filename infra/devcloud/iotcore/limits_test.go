package iotcore

import (
	"strings"
	"testing"
)

func TestCheckPublishTopicAppliesIoTCoreLimits(t *testing.T) {
	tests := []struct {
		name    string
		topic   string
		payload int
		wantErr bool
	}{
		{"plain topic", "sward/dev1/telemetry/temp", 10, false},
		{"payload of exactly 128 KB", "a", 128 * 1024, false},
		{"payload over 128 KB", "a", 128*1024 + 1, true},
		{"seven slashes", "a/b/c/d/e/f/g/h", 1, false},
		{"eight slashes", "a/b/c/d/e/f/g/h/i", 1, true},
		{"topic of 256 bytes", strings.Repeat("t", 256), 1, false},
		{"topic over 256 bytes", strings.Repeat("t", 257), 1, true},
		{"own shadow update", "$aws/things/dev1/shadow/update", 1, false},
		{"named shadow update", "$aws/things/dev1/shadow/name/cfg/update", 1, false},
		{"jobs start-next", "$aws/things/dev1/jobs/start-next", 1, false},
		{"basic ingest, prefix not counted", "$aws/rules/sward_telemetry/a/b/c/d/e/f/g", 1, false},
		{"basic ingest without a topic", "$aws/rules/sward_telemetry", 1, true},
		{"reserved events topic", "$aws/events/presence/connected/dev1", 1, true},
		{"reserved topic of no kind", "$aws/things/dev1/other/x", 1, true},
		{"another $ topic", "$SYS/broker", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPublishTopic(tt.topic, tt.payload)
			if (err != nil) != tt.wantErr {
				t.Errorf("CheckPublishTopic(%q, %d) = %v, want error %v", tt.topic, tt.payload, err, tt.wantErr)
			}
		})
	}
}
