// Command infra is Sward's cloud half: the CDK app that `cdk deploy` runs
// (cdk.json at the repository root says `"app": "go run ./infra"`).
//
// Context values (`cdk synth -c key=value` or the "context" block of cdk.json):
//
//	thingGroupName  the IoT thing group that Sward deployments target (default "sward-devices")
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()

	app, err := newApp(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	app.Synth(nil)
}

// newApp builds the app and all of its stacks from the context values.
func newApp(props *awscdk.AppProps) (awscdk.App, error) {
	app := awscdk.NewApp(props)
	group, err := thingGroupName(app)
	if err != nil {
		return nil, err
	}
	NewArtifactsStack(app, "SwardArtifacts", &ArtifactsStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("Sward artifacts bucket: recipes, artifacts and release manifests uploaded by `sward publish`"),
		},
		ThingGroupName: group,
	})
	return app, nil
}
