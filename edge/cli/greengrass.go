package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// operands resolves what a command acts on from its positional arguments
// and flags, before any nucleus is dialled.
type operands func(cmd *cobra.Command, args []string) ([]string, error)

// noOperands is the operands of a command that takes none.
func noOperands(cmd *cobra.Command, args []string) ([]string, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil, nil
}

// oneOperand is the single operand (what: "component name") given either
// as the argument, Sward's spelling, or as --flag, greengrass-cli's
// (component details -n NAME, deployment status -i ID). hint says where to
// find one.
func oneOperand(what, flag, hint string, fromFlag *string) operands {
	return func(cmd *cobra.Command, args []string) ([]string, error) {
		switch {
		case *fromFlag != "" && len(args) == 0:
			return []string{*fromFlag}, nil
		case *fromFlag == "" && len(args) == 1:
			return args, nil
		case *fromFlag != "":
			return nil, fmt.Errorf("%s takes one %s, as its argument or as --%s, not both: drop %q or --%s", cmd.CommandPath(), what, flag, args[0], flag)
		}
		return nil, fmt.Errorf("%s takes exactly one %s (argument or --%s), got %d: %s", cmd.CommandPath(), what, flag, len(args), hint)
	}
}

// namesSeparator splits greengrass-cli's --names list: commas or
// ampersands, with any spaces around them (its " *[&,]+ *").
var namesSeparator = regexp.MustCompile(` *[&,]+ *`)

// componentNames are one or more component names, as arguments or as
// greengrass-cli's --names A,B (component restart|stop -n), in the order
// given, each once.
func componentNames(fromFlag *string) operands {
	return func(cmd *cobra.Command, args []string) ([]string, error) {
		names := slices.Clone(args)
		if *fromFlag != "" {
			names = append(names, namesSeparator.Split(strings.TrimSpace(*fromFlag), -1)...)
		}
		var out []string
		for _, n := range names {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s takes one or more component names (arguments or --names A,B): see `sward component list`", cmd.CommandPath())
		}
		return out, nil
	}
}

// jsonOrFile is greengrass-cli's reading of --update-config: a path to an
// existing file (~ for the home folder) is read, anything else is the JSON
// itself. @FILE, Sward's spelling elsewhere, is always a file.
func jsonOrFile(flag, v string) ([]byte, error) {
	if strings.HasPrefix(v, "@") {
		return inlineOrFile(flag, v)
	}
	path := v
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, rest)
		}
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.Mode().IsRegular():
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return b, nil
	case strings.HasPrefix(strings.TrimSpace(v), "{"):
		return []byte(v), nil
	case err != nil:
		return nil, fmt.Errorf("%s %q is not valid JSON, nor a file (%w): give the JSON object itself or the path of a file holding it", flag, v, err)
	}
	return nil, fmt.Errorf("%s %q is not valid JSON, nor a regular file: give the JSON object itself or the path of a file holding it", flag, v)
}

// greengrassShorthands are greengrass-cli's multi-letter short flags, by
// command. pflag would read -fol as -f with the value "ol" (a filter), so
// they are rewritten to Sward's long flags before parsing.
var greengrassShorthands = map[string]map[string]string{
	"sward logs get":          {"-fol": "--follow"},
	"sward deployment create": {"-fp": "--failure-handling-policy"},
}

// greengrassArgs rewrites args (without the program name) for root:
// greengrass-cli's multi-letter short flags of the command they run become
// Sward's long ones. Everything after "--" is left alone.
func greengrassArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	spellings := greengrassShorthands[cmd.CommandPath()]
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if long, ok := spellings[a]; ok {
			out[i] = long
		} else if short, value, ok := strings.Cut(a, "="); ok {
			if long, ok := spellings[short]; ok {
				out[i] = long + "=" + value
			}
		}
	}
	return out
}
