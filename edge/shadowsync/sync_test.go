package shadowsync

import (
	"testing"
)

func core(named ...string) Config {
	return Config{CoreThing: &Document{Classic: true, NamedShadows: named}}
}

func TestALocalUpdateReachesTheCloudAndACloudUpdateReachesTheDevice(t *testing.T) {
	r := startRig(t, core("cfg"))
	local, cloud := r.localSide(), r.cloudSide()

	local.update(t, "", `{"state":{"reported":{"temp":21}}}`)
	cloud.waitState(t, "", `{"desired":null,"reported":{"temp":21}}`)

	cloud.update(t, "", `{"state":{"desired":{"fan":"on"}}}`)
	local.waitState(t, "", `{"desired":{"fan":"on"},"reported":{"temp":21}}`)

	// A named shadow syncs the same way, both ways.
	cloud.update(t, "cfg", `{"state":{"desired":{"interval":5}}}`)
	local.waitState(t, "cfg", `{"desired":{"interval":5},"reported":null}`)
	local.update(t, "cfg", `{"state":{"reported":{"interval":5}}}`)
	cloud.waitState(t, "cfg", `{"desired":{"interval":5},"reported":{"interval":5}}`)
}
