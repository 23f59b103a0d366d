package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/control"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

func newDeploymentCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "Create, list and inspect deployments of a running nucleus"}
	var (
		recipeDir, artifactDir, updateConfig, policy string
		systemLimits                                 string
		merge, remove                                []string
		wait                                         bool
		timeout                                      time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Deploy components to the LOCAL group (greengrass-cli shaped)",
		Long: `Queue a LOCAL deployment: --merge Name=Version adds or updates root components
(found in --recipeDir, or already in the component store), --remove Name drops
them, --update-config '{"Name":{"MERGE":{...},"RESET":["/x"]}}' changes
configuration, --systemLimits '{"Name":{"cpus":0.5,"memory":102400}}' caps a
component's CPU (in cores) and memory (in KB) through its cgroup; as in
greengrass-cli, a path to an existing JSON file works there too. A component in --update-config without --merge keeps the version
the device runs, whichever group deployed it. Artifacts are read from
<artifactDir>/<Name>/<Version>/<file>.
Prints the deployment id; --wait waits for the outcome and exits 1 unless it
SUCCEEDED.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := parseMerge(merge)
			if err != nil {
				return fmt.Errorf("--merge: %w", err)
			}
			var upd map[string]ddoc.ConfigurationUpdate
			if updateConfig != "" {
				data, err := jsonOrFile("--update-config", updateConfig)
				if err != nil {
					return err
				}
				if upd, err = parseUpdateConfig(string(data)); err != nil {
					return fmt.Errorf("--update-config: %w", err)
				}
			}
			var runWith map[string]ddoc.RunWith
			if systemLimits != "" {
				data, err := jsonOrFile("--systemLimits", systemLimits)
				if err != nil {
					return err
				}
				lims, err := parseSystemLimits(string(data))
				if err != nil {
					return err
				}
				runWith = map[string]ddoc.RunWith{}
				for name, l := range lims {
					runWith[name] = ddoc.RunWith{SystemResourceLimits: l}
				}
			}
			fh := ddoc.FailureHandling(strings.ToUpper(policy))
			if fh != ddoc.Rollback && fh != ddoc.DoNothing {
				return fmt.Errorf("--failure-handling-policy %q is not a policy: use ROLLBACK or DO_NOTHING", policy)
			}
			doc, err := localDocument(localRequest{merge: m, remove: remove, updateConfig: upd, runWith: runWith, failureHandling: fh})
			if err != nil {
				return err
			}
			for _, dir := range []*string{&recipeDir, &artifactDir} {
				if *dir != "" {
					if *dir, err = filepath.Abs(*dir); err != nil {
						return err
					}
				}
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.CreateDeployment(ctxOf(cmd), doc, recipeDir, artifactDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), st.DeploymentID)
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctxOf(cmd), timeout)
			defer cancel()
			st, err = c.WaitDeployment(ctx, st.DeploymentID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", st.State, st.Reason)
			if st.State != ddoc.Succeeded {
				return fmt.Errorf("deployment %s %s: %s", st.DeploymentID, st.State, st.Reason)
			}
			return nil
		},
	}
	f := create.Flags()
	f.StringVarP(&recipeDir, "recipeDir", "r", "", "folder of recipes for the components to deploy")
	f.StringVarP(&artifactDir, "artifactDir", "a", "", "artifact folder laid out as <dir>/<Name>/<Version>/<file>")
	f.StringArrayVarP(&merge, "merge", "m", nil, "Name=Version to add or update (repeatable)")
	f.StringArrayVar(&remove, "remove", nil, "component to remove from the LOCAL group (repeatable)")
	f.StringVarP(&updateConfig, "update-config", "c", "", `configuration updates, {"Name":{"MERGE":{...},"RESET":["/ptr"]}}, or a file of them`)
	f.StringVarP(&systemLimits, "systemLimits", "s", "", `resource limits by component, {"Name":{"cpus":0.5,"memory":102400}} (memory in KB), or a file of them`)
	f.StringVar(&policy, "failure-handling-policy", string(ddoc.Rollback), "ROLLBACK or DO_NOTHING (greengrass-cli's -fp works too)")
	f.BoolVar(&wait, "wait", false, "wait for the outcome; exit 1 unless SUCCEEDED")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")

	list := queryCommand("list", "List deployments, oldest first", noOperands,
		func(ctx context.Context, c *control.Client, _ []string) ([]ddoc.Status, error) {
			return c.Deployments(ctx)
		},
		writeDeployments)
	var statusID string
	status := queryCommand("status ID | -i ID", "Show one deployment: state, reason, per-component outcome, timestamps",
		oneOperand("deployment id", "deploymentId", "see `sward deployment list`", &statusID),
		func(ctx context.Context, c *control.Client, ids []string) (ddoc.Status, error) {
			return c.Deployment(ctx, ids[0])
		},
		writeDeployment)
	status.Flags().StringVarP(&statusID, "deploymentId", "i", "", "the deployment (greengrass-cli's spelling of ID)")
	cmd.AddCommand(create, list, status)
	return cmd
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func writeDeployments(w io.Writer, list []ddoc.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tGROUP\tSTATE\tCREATED\tREASON")
	for _, st := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.DeploymentID, st.Group, st.State, st.CreatedAt.Local().Format(time.DateTime), oneLine(st.Reason))
	}
	return tw.Flush()
}

func writeDeployment(w io.Writer, st ddoc.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format(time.RFC3339)
	}
	for _, r := range [][2]string{
		{"ID", st.DeploymentID}, {"Group", st.Group}, {"State", string(st.State)}, {"Reason", oneLine(st.Reason)},
		{"Commit", st.CommitID}, {"Created", stamp(st.CreatedAt)}, {"Started", stamp(st.StartedAt)}, {"Ended", stamp(st.EndedAt)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	if st.JobID != "" {
		fmt.Fprintf(tw, "Job:\t%s\n", st.JobID)
	}
	if len(st.Carries) > 0 {
		fmt.Fprintf(tw, "Carries:\t%s\n", strings.Join(st.Carries, " "))
	}
	if st.CarriedBy != "" {
		fmt.Fprintf(tw, "Carried by:\t%s\n", st.CarriedBy)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(tw, "Warning:\t%s\n", oneLine(w))
	}
	if p := st.Progress; p != nil {
		fmt.Fprintf(tw, "Downloaded:\t%s\n", ofBytes(p.Bytes, p.TotalBytes))
		fmt.Fprintln(tw, "\nARTIFACT\tCOMPONENT\tVERSION\tDOWNLOADED")
		for _, a := range p.Artifacts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.URI, a.Component, a.Version, ofBytes(a.Bytes, a.TotalBytes))
		}
	}
	if len(st.Components) > 0 {
		fmt.Fprintln(tw, "\nCOMPONENT\tPREVIOUS\tVERSION\tSTATE\tREASON")
		for _, c := range st.Components {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, dash(c.PreviousVersion), dash(c.Version), c.State, c.Reason)
		}
	}
	return tw.Flush()
}

// ofBytes is "done of total bytes (percent)".
func ofBytes(done, total int64) string {
	pct := 100.0
	if total > 0 {
		pct = float64(done) * 100 / float64(total)
	}
	return fmt.Sprintf("%d of %d bytes (%.0f%%)", done, total, pct)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
