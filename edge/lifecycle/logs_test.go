package lifecycle

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestStepOutputIsLoggedOneLinePerLineWithTimeStepAndStream(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	apply(t, s, Component{Name: "chatty", Version: "1.0.0", Lifecycle: Lifecycle{
		Install: script(`echo installing; echo oops >&2`),
		Run:     script(`echo "hello world"; printf 'no newline at end'`),
	}})
	st := waitState(t, s, "chatty", StateFinished)
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[Install\] \[stdout\] installing$`),
		regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[Install\] \[stderr\] oops$`),
		regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[Run\] \[stdout\] hello world$`),
		regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[Run\] \[stdout\] no newline at end$`),
	}
	testutil.Until(t, "all lines in "+st.LogFile, func() bool {
		b, _ := os.ReadFile(st.LogFile)
		for _, re := range want {
			if !re.Match(b) {
				return false
			}
		}
		return true
	})
}

func TestLongLinesAreSplitNotLost(t *testing.T) {
	s, _ := startSupervisor(t, testOptions(t))
	const n = 2*maxLineBytes + 100
	apply(t, s, Component{Name: "long", Version: "1.0.0", Lifecycle: Lifecycle{
		Run: script(`head -c %d /dev/zero | tr '\0' x; echo; echo after`, n),
	}})
	st := waitState(t, s, "long", StateFinished)
	prefix := regexp.MustCompile(`^\S+ \[Run\] \[stdout\] `)
	testutil.Until(t, "the line after the long one", func() bool {
		b, _ := os.ReadFile(st.LogFile)
		return strings.Contains(string(b), "] after\n")
	})
	b, _ := os.ReadFile(st.LogFile)
	xs, lines := 0, 0
	for line := range strings.Lines(string(b)) {
		body := prefix.ReplaceAllString(strings.TrimSuffix(line, "\n"), "")
		if len(body) > maxLineBytes {
			t.Errorf("a log line holds %d bytes, more than the bound %d", len(body), maxLineBytes)
		}
		if strings.Trim(body, "x") == "" {
			xs += len(body)
			lines++
		}
	}
	if xs != n || lines != 3 {
		t.Errorf("logged %d of %d bytes in %d lines, want all in 3 lines", xs, n, lines)
	}
}

func TestLineWriterJoinsLinesAcrossReadsAndSplitsLongOnes(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes)
	tests := []struct {
		name   string
		reads  []string
		bodies []string // logged lines without time stamp and prefix
	}{
		{"one read, two lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"a line cut between reads", []string{"hel", "lo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"no newline at the end", []string{"a\nlast"}, []string{"a", "last"}},
		{"a line that fits the bound with its newline", []string{long[1:] + "\n"}, []string{long[1:]}},
		{"a line of the bound: its newline ends an empty line", []string{long + "\n"}, []string{long, ""}},
		{"one byte over the bound: a full line, then the rest", []string{long[:100], long + "y\n"}, []string{long, strings.Repeat("x", 100) + "y"}},
		{"empty lines stay", []string{"\n\n"}, []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			lw := lineWriter{w: &out, prefix: "[Run] [stdout] "}
			for _, r := range tt.reads {
				lw.write([]byte(r))
			}
			lw.flush()
			var got []string
			for line := range strings.Lines(out.String()) {
				_, body, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " [Run] [stdout] ")
				if !ok {
					t.Fatalf("line %q lacks the time stamp and prefix", line)
				}
				got = append(got, body)
			}
			if strings.Join(got, "|") != strings.Join(tt.bodies, "|") {
				t.Errorf("lines = %d %.60q, want %d %.60q", len(got), got, len(tt.bodies), tt.bodies)
			}
			if lw.partial != nil {
				t.Errorf("after flush the writer still holds %d bytes", len(lw.partial))
			}
		})
	}
}
