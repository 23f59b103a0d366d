package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/control"
)

func newComponentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "component",
		Short: "List, inspect, restart and stop the components of a running nucleus",
	}
	list := queryCommand("list", "List components with their version and state", noOperands,
		func(ctx context.Context, c *control.Client, _ []string) ([]control.Component, error) {
			return c.Components(ctx)
		},
		writeTable)
	var detailsName string
	details := queryCommand("details NAME | -n NAME", "Show one component's state, reason, process, dependencies and paths",
		oneOperand("component name", "name", "see `sward component list`", &detailsName),
		func(ctx context.Context, c *control.Client, names []string) (control.Component, error) {
			return c.Component(ctx, names[0])
		},
		writeDetails)
	details.Flags().StringVarP(&detailsName, "name", "n", "", "the component (greengrass-cli's spelling of NAME)")

	act := func(use, short string, op func(*control.Client, context.Context, string) (control.Component, error)) *cobra.Command {
		var names string
		sub := &cobra.Command{
			Use:   use + " NAME... | -n NAME[,NAME...]",
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				targets, err := componentNames(&names)(cmd, args)
				if err != nil {
					return err
				}
				c, err := dial(cmd)
				if err != nil {
					return err
				}
				defer c.Close()
				var errs []error
				for _, name := range targets {
					comp, err := op(c, ctxOf(cmd), name)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s %s: %w", use, name, err))
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", comp.Name, use, stateLine(comp))
				}
				return errors.Join(errs...)
			},
		}
		sub.Flags().StringVarP(&names, "names", "n", "", "components, separated by commas (greengrass-cli's spelling)")
		return sub
	}
	restart := act("restart", "Restart components (a BROKEN one gets a fresh start)", (*control.Client).Restart)
	stop := act("stop", "Stop components until they are restarted or redeployed; prints the state each ends in", (*control.Client).Stop)
	cmd.AddCommand(list, details, restart, stop)
	return cmd
}

// stateLine is a component's state, with its reason when it has one.
func stateLine(c control.Component) string {
	if c.Reason == "" {
		return c.State
	}
	return c.State + " (" + c.Reason + ")"
}

func exactlyOneName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s takes exactly one component name, got %d: see `sward component list`", cmd.CommandPath(), len(args))
	}
	return nil
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q is not a format: use table or json", o)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTable(w io.Writer, comps []control.Component) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tSINCE\tREASON")
	for _, c := range comps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Version, c.State, c.Since.Local().Format(time.TimeOnly), c.Reason)
	}
	return tw.Flush()
}

func writeDetails(w io.Writer, c control.Component) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	deps := make([]string, 0, len(c.Dependencies))
	for _, d := range c.Dependencies {
		deps = append(deps, d.Name+" ("+d.Type+")")
	}
	rows := [][2]string{
		{"Name", c.Name}, {"Version", c.Version}, {"State", c.State}, {"Reason", c.Reason},
		{"Since", c.Since.Local().Format(time.RFC3339)}, {"PID", fmt.Sprint(c.PID)},
		{"Restarts", fmt.Sprint(c.Restarts)}, {"Dependencies", strings.Join(deps, ", ")},
		{"Work folder", c.WorkDir}, {"Log file", c.LogFile},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
