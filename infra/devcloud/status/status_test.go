package status

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type counts []Rule

func (c counts) RuleCounts() []Rule { return c }

func TestTheReportMarksConnectedThingsAndPrintsEverySection(t *testing.T) {
	src := Sources{
		Things: func() ([]Thing, error) {
			return []Thing{{Name: "dev1", Groups: []string{"fleet"}, CertificateStatus: "ACTIVE"}, {Name: "dev2", CertificateStatus: "REVOKED"}}, nil
		},
		Connections: func() []Connection {
			return []Connection{{ClientID: "dev1", ThingName: "dev1", Since: time.Unix(0, 0)}}
		},
		Jobs: func() []Job {
			return []Job{{JobID: "j1", Status: "IN_PROGRESS", TargetSelection: "CONTINUOUS", Executions: []Execution{
				{ThingName: "dev1", Status: "SUCCEEDED", VersionNumber: 3}, {ThingName: "dev2", Status: "QUEUED", VersionNumber: 1}}}}
		},
	}
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	r, err := Fetch(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Things[0].Connected || r.Things[1].Connected {
		t.Errorf("connected = %v, %v; want dev1 only", r.Things[0].Connected, r.Things[1].Connected)
	}
	if r.Rules != nil || r.RulesNote == "" {
		t.Errorf("rules without a counter = %v %q, want none and a note", r.Rules, r.RulesNote)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"THINGS (2)", "fleet", "REVOKED", "CONNECTIONS (1)", "JOBS (1)", "1 SUCCEEDED, 1 QUEUED", "RULES: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}

	src.Rules = counts(nil) // a counter with no engine behind it yet
	if r, err := src.Collect(); err != nil || r.Rules != nil || r.RulesNote == "" {
		t.Errorf("rules from a counter without an engine = %v %q %v, want none and a note", r.Rules, r.RulesNote, err)
	}

	src.Rules = counts{{Name: "sward_telemetry", Fired: 4, Failures: 1, LastError: "throttled"}}
	r, err = src.Collect()
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	_ = r.WriteText(&b)
	if !strings.Contains(b.String(), "sward_telemetry") || !strings.Contains(b.String(), "throttled") {
		t.Errorf("rule counts not printed:\n%s", b.String())
	}
}
