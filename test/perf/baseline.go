package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// binary is one sward build a figure is measured for: the one under test,
// or the -baseline one measured beside it in the same run.
type binary struct {
	path  string
	key   string // suffix of the figure's JSON key: "" or "_baseline"
	label string // suffix of the figure's table label: "" or " — baseline <name>"
}

// binaries are the builds the start and components figures measure: -sward,
// then -baseline when given.
func (c *config) binaries() []binary {
	bins := []binary{{path: c.sward}}
	if c.baseline != "" {
		name := strings.TrimPrefix(filepath.Base(c.baseline), "sward-")
		bins = append(bins, binary{path: c.baseline, key: "_baseline", label: " — baseline " + name})
	}
	return bins
}

// interleaved returns the binaries in the order run i measures them: each
// run alternates which goes first, so that a change of load during the run
// (the machine is shared) or the page cache of the previous one weighs on
// both alike.
func interleaved(bins []binary, run int) []binary {
	if run%2 == 0 || len(bins) < 2 {
		return bins
	}
	return []binary{bins[1], bins[0]}
}

// checkBaseline resolves -baseline to an absolute path of an existing file.
func (c *config) checkBaseline() error {
	if c.baseline == "" {
		return nil
	}
	abs, err := filepath.Abs(c.baseline)
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return fmt.Errorf("-baseline %s: not a file: `make perf BASELINE=<git revision>` builds one as bin/sward-<revision>", c.baseline)
	}
	c.baseline = abs
	return nil
}
