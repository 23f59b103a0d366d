package main

import (
	"fmt"
	"regexp"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// defaultThingGroupName is the thing group used when no thingGroupName
// context value is given.
const defaultThingGroupName = "sward-devices"

// thingGroupNamePattern is the name pattern AWS IoT accepts for thing groups
// (CreateThingGroup: 1 to 128 characters of [a-zA-Z0-9:_-]).
var thingGroupNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// thingGroupName reads the thingGroupName context value of scope, falling
// back to defaultThingGroupName, and rejects names AWS IoT would refuse at
// deploy time so that the mistake shows up at synth.
func thingGroupName(scope constructs.Construct) (string, error) {
	name := defaultThingGroupName
	if v := scope.Node().TryGetContext(jsii.String("thingGroupName")); v != nil {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("context value thingGroupName must be a string, got %T %v", v, v)
		}
		name = s
	}
	if !thingGroupNamePattern.MatchString(name) {
		return "", fmt.Errorf("context value thingGroupName %q is not a valid IoT thing group name: use 1 to 128 characters of letters, digits, ':', '_' or '-'", name)
	}
	return name, nil
}
