package cli

import (
	"context"
	"encoding/json"
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
	list := queryCommand("list", "List components with their version and state", cobra.NoArgs,
		func(ctx context.Context, c *control.Client, _ []string) ([]control.Component, error) {
			return c.Components(ctx)
		},
		writeTable)
	details := queryCommand("details NAME", "Show one component's state, reason, process, dependencies and paths", exactlyOneName,
		func(ctx context.Context, c *control.Client, args []string) (control.Component, error) {
			return c.Component(ctx, args[0])
		},
		writeDetails)

	act := func(use, short string, op func(*control.Client, *cobra.Command, string) (control.Component, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME",
			Short: short,
			Args:  exactlyOneName,
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := control.Dial(rootFlag(cmd))
				if err != nil {
					return err
				}
				defer c.Close()
				comp, err := op(c, cmd, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", comp.Name, use, comp.State)
				return nil
			},
		}
	}
	restart := act("restart", "Restart a component (a BROKEN one gets a fresh start)",
		func(c *control.Client, cmd *cobra.Command, name string) (control.Component, error) {
			return c.Restart(cmd.Context(), name)
		})
	stop := act("stop", "Stop a component until it is restarted or redeployed",
		func(c *control.Client, cmd *cobra.Command, name string) (control.Component, error) {
			return c.Stop(cmd.Context(), name)
		})
	cmd.AddCommand(list, details, restart, stop)
	return cmd
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
