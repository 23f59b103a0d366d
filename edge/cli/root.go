package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/control"
	wire "github.com/sward-iot/sward/shared/ipc"
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
	// `sward run --tls-ca` (its own flag) is the CA of client certificates;
	// for every other command this is the CA to verify the nucleus with.
	root.PersistentFlags().String("tls-ca", "", "CA bundle (PEM) the nucleus's TLS certificate chains to (default: <root>/public/ca.pem, which the nucleus publishes)")
	root.AddCommand(newRunCommand(), newProvisionCommand(), newComponentCommand(), newDeploymentCommand(), newLogsCommand(), newRecipeCommand(), newShadowCommand(), newStreamCommand(), newCloudCommand(), newPublishCommand(), newReleaseCommand())
	return root
}

// Execute runs root on args (without the program name), rewriting
// greengrass-cli's multi-letter short flags first (greengrassArgs).
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(greengrassArgs(root, args))
	return root.ExecuteContext(ctx)
}

// defaultRoot is $SWARD_ROOT, else /var/lib/sward for root (a device: its
// components run as other users, who cannot reach into /root), else
// ~/.sward for development.
func defaultRoot() string {
	if r := os.Getenv(wire.EnvRoot); r != "" {
		return r
	}
	if os.Geteuid() == 0 {
		return "/var/lib/sward"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".sward"
	}
	return filepath.Join(home, ".sward")
}

// dial connects to the nucleus of --root (control.Dial), with hintRoot's
// advice when none runs there.
func dial(cmd *cobra.Command) (*control.Client, error) {
	c, err := control.DialCA(rootFlag(cmd), tlsCAFlag(cmd))
	return c, hintRoot(cmd, err)
}

// dialConn is dial's admin connection (control.DialConn).
func dialConn(cmd *cobra.Command) (*nats.Conn, error) {
	nc, err := control.DialConnCA(rootFlag(cmd), tlsCAFlag(cmd))
	return nc, hintRoot(cmd, err)
}

// hintRoot adds to "no nucleus at this root" what to do about it. A root
// the CLI chose itself (no --root, no SWARD_ROOT) is most likely not the
// one the nucleus runs with: point at --root rather than at a `sward run`
// that would start a second nucleus on the same ports.
func hintRoot(cmd *cobra.Command, err error) error {
	root := rootFlag(cmd)
	if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	if _, statErr := os.Stat(control.CredentialPath(root)); !errors.Is(statErr, os.ErrNotExist) {
		return err // a credential without a nucleus: control's message says what to do
	}
	if !cmd.Flags().Changed("root") && os.Getenv(wire.EnvRoot) == "" {
		return fmt.Errorf("%w: without --root or SWARD_ROOT the CLI looks in %s; pass the running nucleus's root with --root DIR or SWARD_ROOT=DIR (`make run` uses .run/root)", err, root)
	}
	return fmt.Errorf("%w: is %s the root the nucleus runs with (--root, SWARD_ROOT)? `sward run --root %s` starts one there", err, root, root)
}

func tlsCAFlag(cmd *cobra.Command) string {
	ca, _ := cmd.Flags().GetString("tls-ca")
	return ca
}

func rootFlag(cmd *cobra.Command) string {
	r, _ := cmd.Flags().GetString("root")
	return r
}
