// Package status is what `devcloud status` shows: a running devcloud
// serves a Report as JSON on its status endpoint (endpoints.status in
// devcloud.json), and the command fetches and prints it. The parts of
// devcloud fill the Report through Sources; the rules engine reports its
// counts through the RuleCounter interface.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a running devcloud's state.
type Report struct {
	Time        time.Time    `json:"time"`
	Things      []Thing      `json:"things"`
	Connections []Connection `json:"connections"`
	Jobs        []Job        `json:"jobs"`
	// Rules is nil when no rules engine reports (RulesNote says why).
	Rules     []Rule `json:"rules"`
	RulesNote string `json:"rulesNote,omitempty"`
}

// Thing is a thing of the data folder.
type Thing struct {
	Name              string   `json:"name"`
	Groups            []string `json:"groups,omitempty"`
	CertificateStatus string   `json:"certificateStatus"`
	Connected         bool     `json:"connected"`
}

// Connection is an open MQTT connection of the data endpoint.
type Connection struct {
	ClientID  string    `json:"clientId"`
	ThingName string    `json:"thingName"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
}

// Job is a job with its executions.
type Job struct {
	JobID           string      `json:"jobId"`
	Status          string      `json:"status"`
	TargetSelection string      `json:"targetSelection"`
	Executions      []Execution `json:"executions"`
}

// Execution is a job execution.
type Execution struct {
	ThingName     string    `json:"thingName"`
	Status        string    `json:"status"`
	VersionNumber int64     `json:"versionNumber"`
	LastUpdatedAt time.Time `json:"lastUpdatedAt"`
}

// Rule is a topic rule's counts since devcloud started.
type Rule struct {
	Name string `json:"name"`
	// Fired counts the messages that matched the rule (FROM and WHERE).
	Fired int64 `json:"fired"`
	// Failures counts actions that failed (and went to the errorAction).
	Failures  int64  `json:"failures"`
	LastError string `json:"lastError,omitempty"`
}

// RuleCounter is what the rules engine implements for the status. nil
// counts mean that no rules engine runs.
type RuleCounter interface {
	RuleCounts() []Rule
}

// Sources are the parts of a running devcloud the Report is read from;
// a nil one leaves its section empty.
type Sources struct {
	Things      func() ([]Thing, error)
	Connections func() []Connection
	Jobs        func() []Job
	Rules       RuleCounter
}

// Collect reads a Report from src.
func (src Sources) Collect() (*Report, error) {
	r := &Report{Time: time.Now().UTC(), Things: []Thing{}, Connections: []Connection{}, Jobs: []Job{}}
	if src.Connections != nil {
		r.Connections = append(r.Connections, src.Connections()...)
	}
	if src.Things != nil {
		things, err := src.Things()
		if err != nil {
			return nil, err
		}
		connected := map[string]bool{}
		for _, c := range r.Connections {
			connected[c.ThingName] = true
		}
		for _, t := range things {
			t.Connected = connected[t.Name]
			r.Things = append(r.Things, t)
		}
	}
	if src.Jobs != nil {
		r.Jobs = append(r.Jobs, src.Jobs()...)
	}
	var rules []Rule
	if src.Rules != nil {
		rules = src.Rules.RuleCounts()
	}
	if rules != nil {
		r.Rules = append([]Rule{}, rules...)
	} else {
		r.RulesNote = "this devcloud runs no rule actions: no counts"
	}
	return r, nil
}

// Handler serves the Report as JSON.
func Handler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r, err := src.Collect()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r)
	})
}

// Fetch reads the Report from a running devcloud's status URL.
func Fetch(ctx context.Context, url string) (*Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devcloud status endpoint %s: %w (is `devcloud up` still running?)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("devcloud status endpoint %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("devcloud status endpoint %s: %w", url, err)
	}
	return &r, nil
}

// WriteText prints the Report as tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "THINGS (%d)\n", len(r.Things))
	if len(r.Things) > 0 {
		fmt.Fprintln(tw, "  NAME\tGROUPS\tCERTIFICATE\tCONNECTED")
		for _, t := range r.Things {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, orDash(strings.Join(t.Groups, ",")), t.CertificateStatus, yesNo(t.Connected))
		}
	}
	fmt.Fprintf(tw, "\nCONNECTIONS (%d)\n", len(r.Connections))
	if len(r.Connections) > 0 {
		fmt.Fprintln(tw, "  CLIENT\tTHING\tREMOTE\tSINCE")
		for _, c := range r.Connections {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.ClientID, c.ThingName, c.Remote, c.Since.UTC().Format(time.RFC3339))
		}
	}
	fmt.Fprintf(tw, "\nJOBS (%d)\n", len(r.Jobs))
	if len(r.Jobs) > 0 {
		fmt.Fprintln(tw, "  JOB\tSTATUS\tSELECTION\tEXECUTIONS")
		for _, j := range r.Jobs {
			counts := map[string]int{}
			var order []string
			for _, e := range j.Executions {
				if counts[e.Status] == 0 {
					order = append(order, e.Status)
				}
				counts[e.Status]++
			}
			var parts []string
			for _, st := range order {
				parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", j.JobID, j.Status, j.TargetSelection, orDash(strings.Join(parts, ", ")))
		}
		fmt.Fprintln(tw, "\n  JOB\tTHING\tSTATUS\tVERSION\tUPDATED")
		for _, j := range r.Jobs {
			for _, e := range j.Executions {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", j.JobID, e.ThingName, e.Status, e.VersionNumber, e.LastUpdatedAt.UTC().Format(time.RFC3339))
			}
		}
	}
	if r.Rules == nil {
		fmt.Fprintf(tw, "\nRULES: %s\n", r.RulesNote)
	} else {
		fmt.Fprintf(tw, "\nRULES (%d)\n", len(r.Rules))
		if len(r.Rules) > 0 {
			fmt.Fprintln(tw, "  RULE\tFIRED\tFAILURES\tLAST ERROR")
			for _, ru := range r.Rules {
				fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", ru.Name, ru.Fired, ru.Failures, orDash(ru.LastError))
			}
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
