package cli

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/provision"
	"github.com/sward-iot/sward/shared/stack"
)

func newProvisionCommand() *cobra.Command {
	var (
		o           provision.Options
		endpointURL string
	)
	cmd := &cobra.Command{
		Use:   "provision --thing-name T --region R --root-ca FILE [--out DIR]",
		Short: "Make this device an AWS IoT thing and write its certificate, key and configuration file",
		Long: `Provision a device with the caller's AWS credentials (the usual AWS_PROFILE,
AWS_ACCESS_KEY_ID, … and AWS_REGION): read the policy, role alias and thing group
from the outputs of the SwardCloud stack (--stack), create the thing, its keys
and certificate, attach the device policy to the certificate and the
certificate to the thing, add the thing to the group (created when missing),
look up the account's iot:Data-ATS and iot:CredentialProvider endpoints, and
write into --out:

  device.pem.crt     the certificate
  private.pem.key    its private key (0600)
  <root CA>          a copy of --root-ca (nothing is downloaded)
  config.yaml        the device configuration file for sward run --config

Existing files are not overwritten without --force. If a step fails, what was
created is removed again; what could not be is named with the command that
removes it. Against devcloud, pass --endpoint-url with devcloud.json's
endpoints.iot and --root-ca DIR/ca/ca.pem.`,
		Example: `  sward provision --thing-name kitchen-1 --region eu-west-1 --root-ca AmazonRootCA1.pem --out /var/lib/sward/device
  sward run --config /var/lib/sward/device/config.yaml --recipes recipes/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var loadOpts []func(*awsconfig.LoadOptions) error
			if o.Region != "" {
				loadOpts = append(loadOpts, awsconfig.WithRegion(o.Region))
			}
			cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
			if err != nil {
				return fmt.Errorf("AWS configuration: %w", err)
			}
			o.Region = cfg.Region
			if o.OutDir == "" {
				o.OutDir = o.ThingName
			}
			o.IoT = iot.NewFromConfig(cfg, func(io *iot.Options) {
				if endpointURL != "" {
					io.BaseEndpoint = aws.String(endpointURL)
				}
			})
			o.Stacks = cfn.NewFromConfig(cfg, func(co *cfn.Options) {
				if endpointURL != "" {
					co.BaseEndpoint = aws.String(endpointURL)
				}
			})
			o.Progress = cmd.OutOrStdout()
			res, err := provision.Provision(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "provisioned thing %s (certificate %s); start it with:\n  sward run --config %s\n", o.ThingName, res.CertificateID, res.ConfigFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ThingName, "thing-name", "", "thing to create (or give a new certificate): 1-128 of [a-zA-Z0-9:_-]")
	f.StringVar(&o.ThingGroup, "thing-group", "", "thing group to add it to, created when missing (default: the stack's ThingGroupName output)")
	f.StringVar(&o.Region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	f.StringVar(&o.OutDir, "out", "", "folder for the certificate, key, root CA and config.yaml (default: ./<thing-name>)")
	f.StringVar(&o.RootCA, "root-ca", "", "PEM file of the CA the data endpoint chains to, copied into --out (AWS: AmazonRootCA1.pem; devcloud: DIR/ca/ca.pem)")
	f.StringVar(&o.Stack, "stack", stack.Name, "CloudFormation stack whose outputs name the device policy, role alias and thing group")
	f.StringVar(&o.PolicyName, "policy-name", "", "IoT policy to attach to the certificate (default: the stack's DevicePolicyName output)")
	f.StringVar(&o.RoleAlias, "role-alias", "", "token exchange role alias for the configuration file (default: the stack's TokenExchangeRoleAliasName output)")
	f.StringVar(&endpointURL, "endpoint-url", "", "send the IoT and CloudFormation requests here instead of AWS (devcloud's endpoints.iot)")
	f.BoolVar(&o.Force, "force", false, "overwrite files already in --out")
	_ = cmd.MarkFlagRequired("thing-name")
	return cmd
}
