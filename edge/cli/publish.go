package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/publish"
	"github.com/sward-iot/sward/shared/stack"
)

// cloudFlags are the AWS flags of publish and release status.
type cloudFlags struct {
	stack, region, endpointURL string
}

func (c *cloudFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.stack, "stack", stack.Name, "CloudFormation stack whose outputs name the bucket, thing group and releases table")
	f.StringVar(&c.region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	f.StringVar(&c.endpointURL, "endpoint-url", "", "send every AWS request here instead of AWS (moto); per service, AWS_ENDPOINT_URL_S3 and the like work too (devcloud's endpoints.s3)")
}

// config loads the caller's AWS configuration.
func (c *cloudFlags) config(cmd *cobra.Command) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if c.region != "" {
		opts = append(opts, awsconfig.WithRegion(c.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(cmd.Context(), opts...)
	if err != nil {
		return cfg, fmt.Errorf("AWS configuration: %w", err)
	}
	if c.endpointURL != "" {
		cfg.BaseEndpoint = aws.String(c.endpointURL)
	}
	return cfg, nil
}

func (c *cloudFlags) s3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// A local endpoint (moto, devcloud) has no bucket host names.
		o.UsePathStyle = c.endpointURL != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	})
}

func newPublishCommand() *cobra.Command {
	var (
		o  publish.Options
		cf cloudFlags
	)
	cmd := &cobra.Command{
		Use:   "publish --stack SwardCloud | --bucket B --group G [--recipes recipes/] [--artifacts DIR]",
		Short: "Release the committed recipes to a thing group through the cloud stack",
		Long: `Publish the recipes folder at the current commit to a thing group, with the
caller's AWS credentials: find each s3: or file: artifact on this machine
(--artifacts/<Name>/<Version>/<file>, what make artifacts writes, else beside
the recipe), write its SHA-256 Digest and its URI
s3://<bucket>/artifacts/<Name>/<Version>/<file> into the recipe, upload the
artifacts (skipping those already there with the same SHA-256), then the
recipes under releases/<commit>/recipes/, then releases/<commit>/release.json
LAST: the release Lambda turns it into the IoT job sward-<commit> for the group.

Every recipe of the folder is in the release (a group's deployment is its whole
set), and there is something to publish when one changed since the group's last
release (--all publishes anyway). Refused: uncommitted changes (--allow-dirty),
and a component changed without a new ComponentVersion (devices cache versions).

The bucket and group come from the stack's outputs unless --bucket and --group
are given. Against devcloud, set AWS_ENDPOINT_URL to devcloud.json's
endpoints.aws and AWS_ENDPOINT_URL_S3 to its endpoints.s3 (whose uploads run
the release Lambda).`,
		Example: `  make artifacts && sward publish --stack SwardCloud
  sward publish --bucket sward-artifacts-123456789012-eu-west-1 --group sward-devices --artifacts build/artifacts
  sward release status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.config(cmd)
			if err != nil {
				return err
			}
			o.S3, o.Stacks, o.Stack = cf.s3(cfg), cfn.NewFromConfig(cfg), cf.stack
			o.Progress = cmd.OutOrStdout()
			res, err := publish.Publish(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.NothingChanged {
				return nil
			}
			fmt.Fprintf(out, "published commit %s to group %s: %d components (%d changed), %d artifacts uploaded, %d unchanged\n",
				res.Commit, res.Group, len(res.Components), len(res.Changed), res.Uploaded, res.Skipped)
			fmt.Fprintf(out, "job %s; watch it with:\n  sward release status %s\n", res.JobID, res.Commit)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Recipes, "recipes", "recipes", "folder of <Component>/recipe.yaml, in a git working tree")
	f.StringVar(&o.Artifacts, "artifacts", "build/artifacts", "artifact folder, <DIR>/<Name>/<Version>/<file> (make artifacts)")
	f.StringVar(&o.Bucket, "bucket", "", "artifacts bucket (default: the stack's ArtifactsBucketName output)")
	f.StringVar(&o.Group, "group", "", "thing group to release to (default: the stack's ThingGroupName output)")
	f.StringVar(&o.Commit, "commit", "", "commit id of the release, 40 or 64 hex digits: the checked-out commit (default: git rev-parse HEAD)")
	f.BoolVar(&o.All, "all", false, "publish even when nothing changed since the group's last release")
	f.BoolVar(&o.AllowDirty, "allow-dirty", false, "publish a working tree with uncommitted changes, or under a --commit other than the checked-out one")
	cf.add(cmd)
	return cmd
}

func newReleaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Releases made with sward publish",
	}
	cmd.AddCommand(newReleaseStatusCommand())
	return cmd
}

// waitInterval is how often `release status --wait` reads the release: the
// release Lambda takes tens of ms warm, a few s cold, so 200 ms shows it
// promptly at five small requests a second.
const waitInterval = 200 * time.Millisecond

func newReleaseStatusCommand() *cobra.Command {
	var (
		cf           cloudFlags
		table, group string
		bucket       string
		wait         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status [COMMIT]",
		Short: "Show a release: accepted or rejected and why, the IoT job, each device's outcome",
		Long: `Show the release of COMMIT (any revision git rev-parse resolves; default: the
group's last published release): its record in the releases table (IN_PROGRESS,
REJECTED with every reason, CANCELED by the abort criteria, SUPERSEDED by a later
release to the group, its job canceled and the reason naming that release; the devices counted
per deployment status) and its IoT job with each device's execution. The table,
bucket and group come from the stack's outputs unless given. With --wait, wait
until the release Lambda has recorded the release, and fail if it rejected it.`,
		Example: `  sward release status
  sward release status HEAD~1
  sward publish && sward release status --wait 1m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := cf.config(cmd)
			if err != nil {
				return err
			}
			if table == "" || (len(args) == 0 && (bucket == "" || group == "")) {
				out, err := publish.Outputs(ctx, cfn.NewFromConfig(cfg), cf.stack)
				if err != nil {
					return err
				}
				table = cmp.Or(table, out[stack.OutputReleasesTableName])
				bucket = cmp.Or(bucket, out[stack.OutputArtifactsBucketName])
				group = cmp.Or(group, out[stack.OutputThingGroupName])
			}
			var commit string
			if len(args) == 1 {
				commit, err = publish.ResolveCommit(ctx, args[0])
			} else {
				commit, err = publish.LastRelease(ctx, cf.s3(cfg), bucket, group)
			}
			if err != nil {
				return err
			}
			db, jobs := publish.NewDynamoDB(cfg), iot.NewFromConfig(cfg)
			if wait <= 0 {
				st, err := publish.Status(ctx, db, table, jobs, commit)
				if err != nil {
					return err
				}
				st.Print(cmd.OutOrStdout())
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			st, err := publish.WaitRecorded(wctx, db, table, jobs, commit, waitInterval)
			if st != nil {
				st.Print(cmd.OutOrStdout())
			}
			return err
		},
	}
	cf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&table, "table", "", "releases table (default: the stack's ReleasesTableName output)")
	f.StringVar(&bucket, "bucket", "", "artifacts bucket, for the last release (default: the stack's ArtifactsBucketName output)")
	f.StringVar(&group, "group", "", "thing group, for the last release (default: the stack's ThingGroupName output)")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the release Lambda to record the release; exit 1 if it REJECTED it")
	return cmd
}
