// Package stack names the parts of the SwardCloud CloudFormation stack
// (infra/) that other folders look up: its name, the outputs a device is
// provisioned with (`sward provision`) and those `sward publish` and
// `sward release status` release with.
package stack

// Name is the stack `cdk deploy` creates.
const Name = "SwardCloud"

// Stack outputs.
const (
	// OutputThingGroupName is the thing group releases deploy to.
	OutputThingGroupName = "ThingGroupName"
	// OutputDevicePolicyName is the IoT policy for device certificates.
	OutputDevicePolicyName = "DevicePolicyName"
	// OutputRoleAliasName is the token exchange role alias.
	OutputRoleAliasName = "TokenExchangeRoleAliasName"
	// OutputArtifactsBucketName is the bucket releases are uploaded to.
	OutputArtifactsBucketName = "ArtifactsBucketName"
	// OutputReleasesTableName is the DynamoDB table of releases.
	OutputReleasesTableName = "ReleasesTableName"
)
