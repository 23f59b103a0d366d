// Command infra is Sward's cloud half: the CDK app that `cdk deploy` runs
// (cdk.json at the repository root says `"app": "go run ./infra"`). It holds
// one stack, SwardCloud (cloud_stack.go); infra/README.md describes every
// resource, the context values and the outputs.
//
// Context values (`cdk synth -c key=value` or the "context" block of cdk.json):
//
//	thingGroupName    the IoT thing group that releases deploy to (default "sward-devices")
//	logRetentionDays  days the Lambdas' and rules' logs are kept (default 30)
//	thresholds        JSON object handed to the telemetry Lambda as SWARD_THRESHOLDS (default unset)
//	lambdaDist        folder of <name>/bootstrap builds (default "dist/lambdas", what `make lambdas` writes)
//	telemetryReservedConcurrency  the telemetry Lambda's reserved concurrency (default 100, 0 for none)
//	historyRetentionDays  days device status history rows are kept (default 365, 0 for ever)
//	iotLogLevel       IoT Core's account-wide log level (default ERROR; none leaves it alone)
//	githubRepository  owner/repo whose release workflow may publish through GitHub OIDC (default unset: no publisher role)
//	githubBranch      the branch of that workflow (default main)
//	githubOidcProviderArn  an existing GitHub OIDC provider to trust (default unset: the stack creates one)
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	cloudstack "github.com/sward-iot/sward/shared/stack"
)

// cloudStackName is the one stack's name in CloudFormation.
const cloudStackName = cloudstack.Name

func main() {
	defer jsii.Close()

	app, err := newApp(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	app.Synth(nil)
}

// orNone maps a context number whose 0 means "none" to CloudStackProps',
// where 0 means the default and a negative number none.
func orNone(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// newApp builds the app and its stack from the context values.
func newApp(props *awscdk.AppProps) (awscdk.App, error) {
	app := awscdk.NewApp(props)
	cfg, err := readConfig(app)
	if err != nil {
		return nil, err
	}
	if err := checkLambdaDist(cfg.LambdaDist); err != nil {
		return nil, err
	}
	NewCloudStack(app, cloudStackName, &CloudStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Sward cloud half: artifacts and telemetry buckets, state tables, Lambdas, IoT rules, device policy and role alias"),
		},
		ThingGroupName:               cfg.ThingGroupName,
		LogRetentionDays:             cfg.LogRetentionDays,
		Thresholds:                   cfg.Thresholds,
		LambdaDist:                   cfg.LambdaDist,
		TelemetryReservedConcurrency: orNone(cfg.TelemetryReservedConcurrency),
		HistoryRetentionDays:         orNone(cfg.HistoryRetentionDays),
		IoTLogLevel:                  cfg.IoTLogLevel,
		GitHubRepository:             cfg.GitHubRepository,
		GitHubBranch:                 cfg.GitHubBranch,
		GitHubOIDCProviderArn:        cfg.GitHubOIDCProviderArn,
	})
	return app, nil
}
