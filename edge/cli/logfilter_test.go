package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sward-iot/sward/internal/testutil/testlog"
)

const (
	nucleusWarn  = `{"time":"2026-12-06T04:00:00Z","level":"WARN","msg":"deployment slow","service":"deployment","error":"timeout waiting for com.example.App"}`
	nucleusInfo  = `{"time":"2026-12-06T04:00:01Z","level":"INFO","msg":"component started","service":"lifecycle","component":"com.example.App"}`
	nucleusDebug = `{"time":"2026-12-06T04:00:02Z","level":"DEBUG","msg":"poll","service":"watch","n":3}`
	componentOut = `2026-12-06T04:00:03Z [Run] [stdout] listening on 8080`
	componentErr = `2026-12-06T04:00:04Z [Run] [stderr] {"level":"ERROR","msg":"bind failed","port":8080}`
	startupOut   = `2026-12-06T04:00:05Z [Startup] [stdout] ready`
)

var allLines = []string{nucleusWarn, nucleusInfo, nucleusDebug, componentOut, componentErr, startupOut}

func TestLogFilterKeepsWhatGreengrassCLIsFilterKeeps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filters []string
		want    []string
	}{
		{"no filter keeps everything", nil, allLines},
		{"a word is a regular expression", []string{"com\\.example\\.App"}, []string{nucleusWarn, nucleusInfo}},
		{"terms of one filter are ORed", []string{"bind,ready"}, []string{componentErr, startupOut}},
		{"filters are ANDed", []string{"level=INFO", "service=lifecycle,service=watch"}, []string{nucleusInfo}},
		{"level keeps that level and above", []string{"level=WARN"}, []string{nucleusWarn, componentErr}},
		{"key=value matches a field exactly", []string{"service=deploy"}, nil},
		{"a number field matches its JSON text", []string{"n=3"}, []string{nucleusDebug}},
		{"component lines have step and stream", []string{"stream=stdout", "step=Run"}, []string{componentOut}},
		{"a component's JSON output has fields", []string{"port=8080"}, []string{componentErr}},
		{"error=any keeps lines with an error", []string{"error=any"}, []string{nucleusWarn}},
		{"error=text searches the error", []string{"error=com.example.App"}, []string{nucleusWarn}},
		{"error=text that is not there", []string{"error=disk"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseLogFilter(tc.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range allLines {
				if f.match([]byte(l + "\n")) {
					got = append(got, l)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("--filter %q kept\n%s\nwant\n%s", tc.filters, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLogFilterRefusesMalformedTermsNamingThem(t *testing.T) {
	for _, tc := range []struct {
		name, filter, want string
	}{
		{"bad regular expression", "fail(", `term "fail(" is not a regular expression`},
		{"empty term", "a,,b", "empty term"},
		{"two equals signs", "a=b=c", `term "a=b=c" is not key=value`},
		{"no key", "=x", `term "=x" is not key=value`},
		{"unknown level", "level=LOUD", `"LOUD" is not a level: use DEBUG, INFO, WARN or ERROR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseLogFilter([]string{tc.filter})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--filter") {
				t.Fatalf("--filter %q: err %v, want one naming --filter and containing %q", tc.filter, err, tc.want)
			}
		})
	}
}

func TestLogsGetFilterPrintsOnlyMatchingLinesAndDashFIsNotFollow(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The last line has no newline yet: it is printed when it matches.
	content := strings.Join(allLines, "\n")
	if err := os.WriteFile(filepath.Join(root, "logs", "sward.log"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without --follow this returns at the end of the file; a -f that
	// meant follow would never return.
	out, err := execute(t, "logs", "get", "sward", "-f", "stream=stdout", "--root", root)
	if err != nil {
		t.Fatal(err)
	}
	if want := componentOut + "\n" + startupOut; out != want {
		t.Fatalf("logs get -f stream=stdout printed\n%q\nwant\n%q", out, want)
	}
}

func TestFilterWriterHoldsAPartialLineUntilItsNewline(t *testing.T) {
	f, _ := parseLogFilter([]string{"keep"})
	var out bytes.Buffer
	fw := &filterWriter{w: &out, f: f}
	for _, chunk := range []string{"drop me\nke", "ep me", "\nand drop\n"} {
		if _, err := fw.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "keep me\n" {
		t.Fatalf("filtered %q, want %q", out.String(), "keep me\n")
	}
}

func TestGreengrassMultiLetterShortFlagsAreRewritten(t *testing.T) {
	root := NewRootCommand()
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"logs", "get", "sward", "-fol"}, []string{"logs", "get", "sward", "--follow"}},
		{[]string{"--root", "/r", "logs", "get", "-f", "level=WARN", "-fol", "sward"}, []string{"--root", "/r", "logs", "get", "-f", "level=WARN", "--follow", "sward"}},
		{[]string{"deployment", "create", "-fp", "DO_NOTHING"}, []string{"deployment", "create", "--failure-handling-policy", "DO_NOTHING"}},
		{[]string{"deployment", "create", "-fp=DO_NOTHING"}, []string{"deployment", "create", "--failure-handling-policy=DO_NOTHING"}},
		{[]string{"stream", "append", "s", "--data", "-fol"}, []string{"stream", "append", "s", "--data", "-fol"}},
		{[]string{"logs", "get", "sward", "--", "-fol"}, []string{"logs", "get", "sward", "--", "-fol"}},
	} {
		if got := greengrassArgs(root, tc.args); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("greengrassArgs(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestLogsGetFollowsWithGreengrassSpelling(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "logs", "sward.log"), []byte(nucleusInfo+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := NewRootCommand()
	out := &testlog.Buffer{}
	cmd.SetOut(out)
	done := make(chan error, 1)
	go func() { done <- Execute(ctx, cmd, []string{"logs", "get", "sward", "-fol", "--root", root}) }()
	waitFor(t, out, nucleusInfo)
	select {
	case err := <-done:
		t.Fatalf("logs get -fol returned at the end of the file (%v): it should follow", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
