// Package cli holds devcloud's cobra commands: `up`, `thing create`,
// `thing revoke` and `status`.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/infra/devcloud/lambdas"
	"github.com/sward-iot/sward/infra/devcloud/status"
)

// Defaults of the flags: where `make synth` writes the template, and a
// data folder beside it that git ignores.
const (
	defaultTemplate = "cdk.out/SwardCloud.template.json"
	defaultData     = ".devcloud"
)

// NewRootCommand returns the `devcloud` command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "devcloud",
		Short:         "devcloud: the SwardCloud stack on one machine, from its CloudFormation template",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("data", defaultData, "data folder: the CA, the things, devcloud.json and the logs")
	root.AddCommand(newUpCommand(), newThingCommand(), newStatusCommand())
	return root
}

func newUpCommand() *cobra.Command {
	var opts devcloud.Options
	cmd := &cobra.Command{
		Use:   "up",
		Short: "start devcloud on loopback until Ctrl-C; writes DATA/devcloud.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.DataDir, _ = cmd.Flags().GetString("data")
			if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
				return err
			}
			logFile, err := os.OpenFile(filepath.Join(opts.DataDir, "devcloud.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer logFile.Close()
			motoLog, err := os.OpenFile(filepath.Join(opts.DataDir, "moto.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer motoLog.Close()
			opts.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(cmd.ErrOrStderr(), logFile), nil))
			opts.MotoOutput = motoLog
			s, err := devcloud.New(opts)
			if err != nil {
				return err
			}
			if err := s.Start(cmd.Context()); err != nil {
				return err
			}
			<-cmd.Context().Done()
			s.Shutdown()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Template, "template", defaultTemplate, "the synthesized CloudFormation template (`make synth`)")
	f.StringVar(&opts.MotoEndpoint, "moto-endpoint", "", "a running moto_server's URL (default: start one on a free loopback port)")
	f.StringVar(&opts.MQTTListen, "mqtt-listen", "127.0.0.1:0", "the data endpoint's MQTT over TLS address, standing in for port 8883")
	f.StringVar(&opts.MQTTALPNListen, "mqtt-alpn-listen", "127.0.0.1:0", "the data endpoint's address requiring ALPN x-amzn-mqtt-ca, standing in for port 443")
	f.StringVar(&opts.CredentialsListen, "credentials-listen", "127.0.0.1:0", "the IoT credentials provider's address (HTTPS, mutual TLS)")
	f.StringVar(&opts.DataHTTPListen, "data-http-listen", "127.0.0.1:0", "the IoT data plane's HTTP API address (Publish; loopback, not SigV4-verified)")
	f.StringVar(&opts.IoTListen, "iot-listen", "127.0.0.1:0", "the IoT control plane's HTTP address (jobs, status; everything else passed to moto)")
	f.StringVar(&opts.Region, "region", devcloud.DefaultRegion, "the region of every ARN")
	f.StringVar(&opts.S3Listen, "s3-listen", "127.0.0.1:0", "devcloud's S3 endpoint, a proxy to moto that delivers the template's S3 → Lambda notifications")
	f.StringVar(&opts.DynamoDBListen, "dynamodb-listen", "127.0.0.1:0", "devcloud's DynamoDB endpoint, a proxy passing requests to moto one at a time (the Lambdas' and rules' DynamoDB)")
	f.StringVar(&opts.LambdaDir, "lambdas", "dist/lambdas", "the Lambda builds, <name>/bootstrap for this machine (`make lambdas GOARCH=amd64`)")
	f.StringVar(&opts.RIE, "rie", "", "the Lambda runtime interface emulator (default: aws-lambda-rie on PATH or beside devcloud; `make devcloud` builds it)")
	f.IntVar(&opts.LambdaInstances, "lambda-instances", 2, "concurrent instances per Lambda function at most")
	f.DurationSliceVar(&opts.LambdaRetryDelays, "lambda-retry-delays", lambdas.DefaultRetryDelays,
		"the waits before the retries of a failed asynchronous Lambda invocation, one retry each (at most 2; Lambda's are 1m,2m)")
	return cmd
}

func newThingCommand() *cobra.Command {
	thing := &cobra.Command{Use: "thing", Short: "things of a running devcloud"}
	var opts devcloud.CreateThingOptions
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "issue a certificate and key for a new thing and register it; prints where its files are",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.DataDir, _ = cmd.Flags().GetString("data")
			th, err := devcloud.CreateThing(cmd.Context(), opts)
			if err != nil {
				return err
			}
			dir, err := filepath.Abs(filepath.Join(opts.DataDir, "things", th.ThingName))
			if err != nil {
				return err
			}
			out := map[string]any{
				"thingName":           th.ThingName,
				"certificateArn":      th.CertificateArn,
				"certificateId":       th.CertificateID,
				"certificateFilePath": filepath.Join(dir, devcloud.CertificateFile),
				"privateKeyPath":      filepath.Join(dir, devcloud.PrivateKeyFile),
				"rootCaPath":          filepath.Join(dir, devcloud.RootCAFile),
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	create.Flags().StringSliceVar(&opts.Groups, "group", nil, "thing group to add the thing to (repeatable)")
	create.Flags().StringSliceVar(&opts.Policies, "policy", nil, "IoT policy of the template to attach to the certificate (default: the template's only one)")
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "revoke a thing's certificate: its next connections and credential requests are refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, _ := cmd.Flags().GetString("data")
			th, err := devcloud.RevokeThingCertificate(cmd.Context(), data, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked the certificate of %s (%s)\n", th.ThingName, th.CertificateArn)
			return nil
		},
	}
	thing.AddCommand(create, revoke)
	return thing
}

func newStatusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "show a running devcloud's things, connections, jobs and executions, and rule counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, _ := cmd.Flags().GetString("data")
			info, err := devcloud.ReadInfo(data)
			if err != nil {
				return err
			}
			if info.Endpoints.Status == "" {
				return fmt.Errorf("%s names no status endpoint: the devcloud running on %s predates `devcloud status`; restart it", devcloud.InfoFile, data)
			}
			report, err := status.Fetch(cmd.Context(), info.Endpoints.Status)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return report.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// Execute runs root on args (without the program name).
func Execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		return fmt.Errorf("devcloud: %w", err)
	}
	return nil
}
