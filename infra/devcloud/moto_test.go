package devcloud

import (
	"os"
	"path/filepath"
	"testing"
)

func TestARecordingCutByAKillLosesOnlyItsUnfinishedLine(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"whole lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n"},
		{"a cut last line", "{\"a\":1}\n{\"b\":", "{\"a\":1}\n"},
		{"only a cut line", "{\"a\"", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MotoRecordingFile)
			if err := os.WriteFile(path, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := dropPartialLine(path); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("recording = %q, want %q", got, tt.want)
			}
		})
	}
	if err := dropPartialLine(filepath.Join(t.TempDir(), "none")); err != nil {
		t.Errorf("no recording yet: %v", err)
	}
}
