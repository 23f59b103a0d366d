package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestJournalAppendAndRotate(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
		keep     int
		lines    []string
		want     map[string][]string // file suffix ("" is the journal) -> lines
	}{
		{"lines under the limit stay in one file", 100, 2, []string{"a", "b", "c"},
			map[string][]string{"": {"a", "b", "c"}}},
		{"a line that does not fit rotates", 4, 2, []string{"a1", "b1", "c1"}, // each line is 3 bytes with its newline
			map[string][]string{"": {"c1"}, ".1": {"b1"}, ".2": {"a1"}}},
		{"a line that exactly fits does not rotate", 6, 1, []string{"a1", "b1"},
			map[string][]string{"": {"a1", "b1"}, ".1": nil}},
		{"the oldest rotated file is deleted", 3, 1, []string{"a1", "b1", "c1", "d1"},
			map[string][]string{"": {"d1"}, ".1": {"c1"}, ".2": nil}},
		{"keep zero truncates", 3, 0, []string{"a1", "b1"},
			map[string][]string{"": {"b1"}, ".1": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			j, err := OpenJournal(path, tt.maxBytes, tt.keep)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			for _, l := range tt.lines {
				if err := j.Append([]byte(l)); err != nil {
					t.Fatalf("Append(%q): %v", l, err)
				}
			}
			for suffix, want := range tt.want {
				if got := readLines(t, path+suffix); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("alerts.jsonl%s = %q, want %q", suffix, got, want)
				}
			}
		})
	}
}

func TestJournalRejectsWhatCannotBeOneBoundedLine(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "alerts.jsonl"), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append([]byte("abcd")); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("Append of 5 bytes into a 4-byte journal: %v, want ErrLineTooLong", err)
	}
	if err := j.Append([]byte("a\nb")); err == nil {
		t.Error("Append of a line with a newline succeeded, want an error")
	}
	for _, bad := range []struct {
		max  int64
		keep int
	}{{0, 1}, {10, -1}} {
		if _, err := OpenJournal(filepath.Join(t.TempDir(), "x"), bad.max, bad.keep); err == nil {
			t.Errorf("OpenJournal(maxBytes %d, keep %d) succeeded, want an error", bad.max, bad.keep)
		}
	}
}

func TestJournalReopenCutsATornLineAndKeepsCounting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	// A crash mid-write left "{"torn" without its newline.
	if err := os.WriteFile(path, []byte("{\"a\":1}\n{\"torn\""), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(path, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append([]byte(`{"b":2}`)); err != nil { // 8 + 8 bytes: fits exactly
		t.Fatal(err)
	}
	if got := readLines(t, path); strings.Join(got, " ") != `{"a":1} {"b":2}` {
		t.Fatalf("journal = %q, want the torn line cut off and the new one appended", got)
	}
	if err := j.Append([]byte(`{"c":3}`)); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, path+".1"); len(got) != 2 {
		t.Fatalf("alerts.jsonl.1 = %q, want the two earlier lines: the size of the reopened file counts", got)
	}
}
