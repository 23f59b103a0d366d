package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// logFilter is greengrass-cli's `logs get --filter`: every filter given must
// match a line (AND), and a filter matches when any of its comma-separated
// terms does (OR). A term is
//
//	regex          a regular expression (Go syntax) found anywhere in the line
//	key=value      the line's field key is exactly value
//	level=LEVEL    the line's level is LEVEL or more severe (DEBUG < INFO < WARN < ERROR)
//	error=any      the line has an error field
//	error=text     the line's error field contains text
//
// A line's fields are the top-level keys of a JSON object line (the
// nucleus's own log), and for a component's line
// "<time> [<step>] [<stream>] <output>" the fields step and stream, plus
// the top-level keys of <output> when it is a JSON object.
type logFilter [][]logTerm

// logTerm is one term of a filter; exactly one of re, level and key is set.
type logTerm struct {
	re         *regexp.Regexp
	level      *slog.Level
	key, value string
}

// errorKeys are the fields a Sward log line carries an error in.
var errorKeys = []string{"error", "err"}

// parseLogFilter parses --filter expressions; none gives a nil filter,
// which passes every line.
func parseLogFilter(exprs []string) (logFilter, error) {
	var f logFilter
	for _, expr := range exprs {
		var terms []logTerm
		for _, t := range strings.Split(expr, ",") {
			term, err := parseLogTerm(t)
			if err != nil {
				return nil, fmt.Errorf("--filter %q: %w", expr, err)
			}
			terms = append(terms, term)
		}
		f = append(f, terms)
	}
	return f, nil
}

func parseLogTerm(t string) (logTerm, error) {
	if t == "" {
		return logTerm{}, fmt.Errorf("has an empty term: separate terms with single commas, such as level=WARN,timeout")
	}
	key, value, isPair := strings.Cut(t, "=")
	if !isPair {
		re, err := regexp.Compile(t)
		if err != nil {
			return logTerm{}, fmt.Errorf("term %q is not a regular expression: %w", t, err)
		}
		return logTerm{re: re}, nil
	}
	if key == "" || value == "" || strings.Contains(value, "=") {
		return logTerm{}, fmt.Errorf("term %q is not key=value: write one key and one value, such as service=deployment", t)
	}
	if key == "level" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(value)); err != nil {
			return logTerm{}, fmt.Errorf("term %q: %q is not a level: use DEBUG, INFO, WARN or ERROR", t, value)
		}
		return logTerm{level: &l}, nil
	}
	return logTerm{key: key, value: value}, nil
}

// match reports whether line passes f.
func (f logFilter) match(line []byte) bool {
	if len(f) == 0 {
		return true
	}
	fields := lineFields(line)
	for _, terms := range f {
		if !anyTerm(terms, line, fields) {
			return false
		}
	}
	return true
}

func anyTerm(terms []logTerm, line []byte, fields map[string]string) bool {
	for _, t := range terms {
		switch {
		case t.re != nil:
			if t.re.Match(line) {
				return true
			}
		case t.level != nil:
			var l slog.Level
			if v, ok := fields["level"]; ok && l.UnmarshalText([]byte(v)) == nil && l >= *t.level {
				return true
			}
		case t.key == "error":
			for _, k := range errorKeys {
				if v, ok := fields[k]; ok && v != "" && (t.value == "any" || strings.Contains(v, t.value)) {
					return true
				}
			}
		default:
			if v, ok := fields[t.key]; ok && v == t.value {
				return true
			}
		}
	}
	return false
}

// lineFields are the fields of one log line (see logFilter); values that
// are not JSON strings are their JSON text.
func lineFields(line []byte) map[string]string {
	fields := map[string]string{}
	line = bytes.TrimRight(line, "\r\n")
	if rest, ok := componentLinePrefix(line, fields); ok {
		line = rest
	}
	var obj map[string]json.RawMessage
	if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &obj) == nil {
		for k, raw := range obj {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				fields[k] = s
			} else {
				fields[k] = string(raw)
			}
		}
	}
	return fields
}

// componentLinePrefix reads "<time> [<step>] [<stream>] " (edge/lifecycle's
// component log) into fields and returns the output after it.
func componentLinePrefix(line []byte, fields map[string]string) ([]byte, bool) {
	parts := bytes.SplitN(line, []byte(" "), 4)
	if len(parts) < 3 {
		return nil, false
	}
	bracketed := func(b []byte) (string, bool) {
		if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
			return "", false
		}
		return string(b[1 : len(b)-1]), true
	}
	step, ok1 := bracketed(parts[1])
	stream, ok2 := bracketed(parts[2])
	if !ok1 || !ok2 {
		return nil, false
	}
	fields["step"], fields["stream"] = step, stream
	if len(parts) == 4 {
		return parts[3], true
	}
	return nil, true
}

// filterWriter passes on to w the lines written to it that f matches. A
// line is held until its newline arrives, or until flush.
type filterWriter struct {
	w       io.Writer
	f       logFilter
	partial []byte
}

func (fw *filterWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			fw.partial = append(fw.partial, p...)
			break
		}
		line := p[:i+1]
		if len(fw.partial) > 0 {
			line = append(fw.partial, line...)
		}
		if fw.f.match(line) {
			if _, err := fw.w.Write(line); err != nil {
				return 0, err
			}
		}
		fw.partial = fw.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush passes on a last line that has no newline, if it matches.
func (fw *filterWriter) flush() error {
	defer func() { fw.partial = fw.partial[:0] }()
	if len(fw.partial) == 0 || !fw.f.match(fw.partial) {
		return nil
	}
	_, err := fw.w.Write(fw.partial)
	return err
}
