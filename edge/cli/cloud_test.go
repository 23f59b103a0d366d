package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/iotcore"
)

func TestCloudStatusShowsTheLinksFiguresOrHowToConfigureIt(t *testing.T) {
	var b strings.Builder
	if err := writeCloudStatus(&b, control.CloudStatus{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "not configured") || !strings.Contains(b.String(), "sward run --config") {
		t.Errorf("without a link:\n%s\nwant not configured and how to configure it", b.String())
	}
	b.Reset()
	st := control.CloudStatus{Configured: true, State: iotcore.State{Connected: true, ConnectedSince: time.Now(),
		Endpoint: "example-ats.iot.eu-north-1.amazonaws.com:8883", ClientID: "kitchen-1", Connections: 1,
		SpoolMessages: 3, SpoolBytes: 600, SpoolMaxBytes: 2621440, LastError: "connection lost", LastErrorAt: time.Now()}}
	if err := writeCloudStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connected since", "example-ats.iot.eu-north-1.amazonaws.com:8883", "3 messages, 600 of 2621440 bytes", "connection lost"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
