package devcloud

import (
	"os"
	"path/filepath"
	"testing"
)

// TestARecordingIsRepairedToOneWholeRequestPerLine: a kill cuts the last
// request (never answered: dropped), and moto's request threads writing at
// once leave two requests on a line and an empty one (both kept, one a
// line), as moto's replay needs them; a line that is not whole requests
// costs that line only.
func TestARecordingIsRepairedToOneWholeRequestPerLine(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"whole lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n"},
		{"a cut last line", "{\"a\":1}\n{\"b\":", "{\"a\":1}\n"},
		{"only a cut line", "{\"a\"", ""},
		{"two requests written at once", "{\"a\":1}\n{\"b\":\"x\\ny\"}{\"c\":3}\n\n{\"d\":4}\n", "{\"a\":1}\n{\"b\":\"x\\ny\"}\n{\"c\":3}\n{\"d\":4}\n"},
		{"interleaved, then cut", "{\"a\":1}{\"b\":2}\n\n{\"c\"", "{\"a\":1}\n{\"b\":2}\n"},
		{"a damaged line amid whole ones", "{\"a\":1}\n{\"b\":{\n{\"c\":3}\n", "{\"a\":1}\n{\"c\":3}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MotoRecordingFile)
			if err := os.WriteFile(path, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := repairRecording(path); err != nil {
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
	if err := repairRecording(filepath.Join(t.TempDir(), "none")); err != nil {
		t.Errorf("no recording yet: %v", err)
	}
}
