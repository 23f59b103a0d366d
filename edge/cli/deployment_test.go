package cli

import (
	"bytes"
	"strings"
	"testing"

	ddoc "github.com/sward-iot/sward/shared/deployment"
)

func TestDeploymentStatusShowsTheDownloadsProgressPerArtifactAndInAll(t *testing.T) {
	var out bytes.Buffer
	st := ddoc.Status{DeploymentID: "d1", State: ddoc.InProgress, Progress: &ddoc.Progress{Bytes: 3 << 20, TotalBytes: 4 << 20,
		Artifacts: []ddoc.ArtifactProgress{
			{Component: "com.example.A", Version: "1.0.0", URI: "s3://b/a.zip", Bytes: 2 << 20, TotalBytes: 2 << 20},
			{Component: "com.example.B", Version: "2.0.0", URI: "s3://b/b.zip", Bytes: 1 << 20, TotalBytes: 2 << 20},
		}}}
	if err := writeDeployment(&out, st); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"3145728 of 4194304 bytes (75%)", "s3://b/a.zip", "com.example.A", "2097152 of 2097152 bytes (100%)",
		"s3://b/b.zip", "1048576 of 2097152 bytes (50%)"} {
		if !strings.Contains(text, want) {
			t.Errorf("status does not show %q:\n%s", want, text)
		}
	}
	out.Reset()
	st.Progress = nil
	_ = writeDeployment(&out, st)
	if strings.Contains(out.String(), "Downloaded") {
		t.Errorf("a deployment without downloads shows a progress:\n%s", out.String())
	}
}
