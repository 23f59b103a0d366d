package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/control"
)

// queryCommand is a read-only command against the running nucleus: it
// resolves its operands, dials the nucleus of --root, asks with get, and
// prints the answer as a table or, with -o json, as JSON.
func queryCommand[T any](use, short string, ops operands,
	get func(ctx context.Context, c *control.Client, ops []string) (T, error),
	table func(io.Writer, T) error) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			resolved, err := ops(cmd, args)
			if err != nil {
				return err
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			v, err := get(ctxOf(cmd), c, resolved)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return table(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}
