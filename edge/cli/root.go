package cli

import (
	"context"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// NewRootCommand returns the `sward` command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "sward",
		Short:         "Sward: the edge nucleus that runs Greengrass-format components on NATS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("root", defaultRoot(), "nucleus root folder (env SWARD_ROOT)")
	root.AddCommand(newRunCommand(), newComponentCommand(), newDeploymentCommand(), newLogsCommand(), newRecipeCommand(), newShadowCommand(), newStreamCommand())
	return root
}

// Execute runs root on args (without the program name), rewriting
// greengrass-cli's multi-letter short flags first (greengrassArgs).
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(greengrassArgs(root, args))
	return root.ExecuteContext(ctx)
}

// defaultRoot is $SWARD_ROOT, else ~/.sward for development.
func defaultRoot() string {
	if r := os.Getenv("SWARD_ROOT"); r != "" {
		return r
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".sward"
	}
	return filepath.Join(home, ".sward")
}

func rootFlag(cmd *cobra.Command) string {
	r, _ := cmd.Flags().GetString("root")
	return r
}
