package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sward-iot/sward/recipes/internal/component"
	"github.com/sward-iot/sward/recipes/internal/testbroker"
)

func TestReportWritesTheFactsFileAndPublishesItOnce(t *testing.T) {
	env := testbroker.Start(t)
	nc, err := nats.Connect(env.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("sward.device.info")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	facts := Facts{ThingName: "thing-1", Hostname: "opi5", OS: "linux", Arch: "arm64", CPUs: 8, CollectedAt: time.Now().UTC()}
	out := filepath.Join(env.WorkPath, "device-info.json")
	if err := Report(facts, out, "sward.device.info", env, component.Env{}.Logger(io.Discard)); err != nil {
		t.Fatalf("Report: %v", err)
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var written Facts
	if err := json.Unmarshal(data, &written); err != nil || written.Hostname != "opi5" || written.CPUs != 8 {
		t.Fatalf("%s = %s (%v), want the facts", out, data, err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no message on sward.device.info: %v", err)
	}
	var published Facts
	if err := json.Unmarshal(m.Data, &published); err != nil || published.ThingName != "thing-1" || published.Hostname != "opi5" {
		t.Fatalf("published %s (%v), want the facts", m.Data, err)
	}
	if entries, _ := os.ReadDir(env.WorkPath); len(entries) != 1 {
		t.Errorf("work folder holds %d files, want only device-info.json (no temporary left behind)", len(entries))
	}
}

func TestReportFailsWhenTheBrokerIsUnreachable(t *testing.T) {
	env := component.Env{NATSURL: "nats://127.0.0.1:1"} // port 1 is never a NATS server
	out := filepath.Join(t.TempDir(), "device-info.json")
	err := Report(Facts{}, out, "sward.device.info", env, component.Env{}.Logger(io.Discard))
	if err == nil {
		t.Fatal("Report succeeded without a broker, want an error so the component is ERRORED and retried")
	}
	if _, statErr := os.Stat(out); statErr != nil {
		t.Errorf("the facts file should be written before publishing: %v", statErr)
	}
}
