package cli

import (
	"reflect"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/nucleus"
	"github.com/sward-iot/sward/edge/shadowsync"
)

func TestTheShadowManagerConfigurationBecomesTheShadowSyncAndTheShadowLimits(t *testing.T) {
	f, _, err := devconfig.Parse("c.yaml", []byte(`
services:
  aws.greengrass.ShadowManager:
    configuration:
      strategy: {type: periodic, delay: 30}
      synchronize:
        coreThing: {namedShadows: [cfg]}
        shadowDocuments:
          - {thingName: lamp, classic: false, namedShadows: [state]}
        direction: deviceToCloud
      rateLimits: {maxOutboundSyncUpdatesPerSecond: 7, maxLocalRequestsPerSecondPerThing: 9}
      shadowDocumentSizeLimitBytes: 16384
`))
	if err != nil {
		t.Fatal(err)
	}
	var opts nucleus.Options
	opts.ShadowRate = 50 // given as a flag: the flag wins
	applyShadowManager(&opts, f.ShadowManager)
	want := &shadowsync.Config{
		CoreThing: &shadowsync.Document{Classic: true, NamedShadows: []string{"cfg"}},
		Documents: []shadowsync.Document{{Thing: "lamp", Classic: false, NamedShadows: []string{"state"}}},
		Direction: shadowsync.DeviceToCloud, Strategy: shadowsync.Periodic, Delay: 30 * time.Second,
		MaxOutboundPerSecond: 7,
	}
	if !reflect.DeepEqual(opts.ShadowSync, want) {
		t.Errorf("ShadowSync = %+v\nwant %+v", opts.ShadowSync, want)
	}
	if opts.ShadowMaxBytes != 16384 || opts.ShadowRate != 50 {
		t.Errorf("ShadowMaxBytes %d, ShadowRate %d; want 16384 from the file and 50 from the flag", opts.ShadowMaxBytes, opts.ShadowRate)
	}

	// Without synchronize nothing syncs.
	var none nucleus.Options
	applyShadowManager(&none, devconfig.ShadowManager{ShadowDocumentSizeLimitBytes: 9000})
	if none.ShadowSync != nil || none.ShadowMaxBytes != 9000 {
		t.Errorf("without synchronize: ShadowSync %+v, ShadowMaxBytes %d", none.ShadowSync, none.ShadowMaxBytes)
	}
}
