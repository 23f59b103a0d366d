// Package stack names the parts of the SwardCloud CloudFormation stack
// (infra/) that other folders look up: its name and the outputs a device
// is provisioned with (`sward provision`).
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
)
