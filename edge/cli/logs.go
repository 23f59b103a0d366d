package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// followPoll is how often `logs get --follow` looks for new lines: a person
// reading a terminal does not notice 200 ms, and the poll costs nothing.
const followPoll = 200 * time.Millisecond

func newLogsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "logs", Short: "Read component and nucleus logs"}
	var (
		follow  bool
		filters []string
	)
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Print <root>/logs/NAME.log (NAME sward is the nucleus's own log)",
		Long: `Print a component's log file, <root>/logs/<NAME>.log. The nucleus's own
JSON log is NAME "sward". --follow keeps printing new lines, across rotations,
until interrupted. No running nucleus is needed.

-f/--filter keeps the lines that match, as greengrass-cli's does: the filters
given must all match (AND), and a filter matches when any of its
comma-separated terms does (OR). A term is a regular expression found in the
line, key=value (a field of a JSON line, or step and stream of a component's
"<time> [<step>] [<stream>]" line), level=WARN (that level or above), or
error=any / error=text (the line's error field). For example
  sward logs get sward -f level=WARN -f service=deployment,service=lifecycle
  sward logs get com.example.App -f stream=stderr --follow`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
				return fmt.Errorf("%q is not a component name: names have no path separators", name)
			}
			filter, err := parseLogFilter(filters)
			if err != nil {
				return err
			}
			dir := filepath.Join(rootFlag(cmd), "logs")
			path := filepath.Join(dir, name+".log")
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no log for %q at %s: `sward component list` names the components (logs exist once a component has run)", name, path)
			}
			return printLog(ctxOf(cmd), cmd.OutOrStdout(), path, follow, filter)
		},
	}
	// No shorthand: greengrass-cli's -f is --filter, and its -fol is
	// rewritten to --follow (greengrassArgs).
	get.Flags().BoolVar(&follow, "follow", false, "keep printing new lines until interrupted (greengrass-cli's -fol works too)")
	get.Flags().StringArrayVarP(&filters, "filter", "f", nil, "print only lines matching this filter (repeatable; see above)")
	cmd.AddCommand(get)
	return cmd
}

// printLog copies the lines of path that filter matches to w and, when
// follow is set, keeps copying what is appended, reopening the file when it
// is rotated (replaced or truncated).
func printLog(ctx context.Context, w io.Writer, path string, follow bool, filter logFilter) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	fw := &filterWriter{w: w, f: filter}
	if _, err := io.Copy(fw, f); err != nil || !follow {
		return errors.Join(err, fw.flush())
	}
	ticker := time.NewTicker(followPoll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return fw.flush()
		case <-ticker.C:
		}
		if _, err := io.Copy(fw, f); err != nil {
			return err
		}
		if rotated(f, path) {
			nf, err := os.Open(path)
			if err != nil {
				continue // the new file is not there yet
			}
			f.Close()
			f = nf
		}
	}
}

// rotated reports whether path now names another file than f, or f was
// truncated below the offset already read.
func rotated(f *os.File, path string) bool {
	cur, err := f.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(path)
	if err != nil {
		return false
	}
	if !os.SameFile(cur, now) {
		return true
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err == nil && now.Size() < off {
		_, _ = f.Seek(0, io.SeekStart)
	}
	return false
}
