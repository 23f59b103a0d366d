package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestANegativeComponentStoreMaxSizeBytesInTheConfigFileStopsTheStartNamingTheKey(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("services:\n  aws.greengrass.Nucleus:\n    configuration:\n      componentStoreMaxSizeBytes: -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := execute(t, "run", "--root", t.TempDir(), "--config", config, "--nats-listen", "127.0.0.1:0", "--mqtt-listen", "off", "--metrics-listen", "off")
	if err == nil || !strings.Contains(err.Error(), "componentStoreMaxSizeBytes -5 is negative") {
		t.Fatalf("run = %v, want the key named", err)
	}
}
