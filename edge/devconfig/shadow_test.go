package devconfig

import (
	"reflect"
	"strings"
	"testing"
)

// The example of Greengrass's "Sync local device shadows with AWS IoT
// Core", in YAML.
const shadowManagerFile = `system:
  thingName: core1
services:
  aws.greengrass.ShadowManager:
    componentType: PLUGIN
    version: 2.3.0
    configuration:
      strategy:
        type: periodic
        delay: 300
      synchronize:
        coreThing:
          classic: true
          namedShadows: [MyCoreShadow]
        shadowDocuments:
          - thingName: MyDevice1
            classic: false
            namedShadows: [MyShadowA, MyShadowB]
          - thingName: MyDevice2
            namedShadows: []
        direction: betweenDeviceAndCloud
      rateLimits:
        maxOutboundSyncUpdatesPerSecond: 50
        maxTotalLocalRequestsRate: 200
        maxLocalRequestsPerSecondPerThing: 20
      shadowDocumentSizeLimitBytes: 8192
`

func TestTheShadowManagerConfigurationIsReadWithGreengrassKeys(t *testing.T) {
	f, warnings, err := Parse("c.yaml", []byte(shadowManagerFile))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Parse = %v, warnings %v", err, warnings)
	}
	sm := f.ShadowManager
	if sm.Strategy == nil || sm.Strategy.Type != "periodic" || sm.Strategy.Delay != 300 {
		t.Errorf("strategy = %+v", sm.Strategy)
	}
	s := sm.Synchronize
	if s == nil || s.CoreThing == nil || !s.CoreThing.ClassicOrDefault() || !reflect.DeepEqual(s.CoreThing.NamedShadows, []string{"MyCoreShadow"}) {
		t.Fatalf("coreThing = %+v", s)
	}
	if len(s.ShadowDocuments) != 2 || s.ShadowDocuments[0].ClassicOrDefault() || !s.ShadowDocuments[1].ClassicOrDefault() ||
		s.ShadowDocuments[0].ThingName != "MyDevice1" || len(s.ShadowDocuments[0].NamedShadows) != 2 {
		t.Errorf("shadowDocuments = %+v (classic unset means true)", s.ShadowDocuments)
	}
	if s.Direction != "betweenDeviceAndCloud" || sm.RateLimits.MaxOutboundSyncUpdatesPerSecond != 50 || sm.ShadowDocumentSizeLimitBytes != 8192 {
		t.Errorf("direction %q, rateLimits %+v, size %d", s.Direction, sm.RateLimits, sm.ShadowDocumentSizeLimitBytes)
	}

	s.ShadowDocuments[1].NamedShadows = nil // an empty list is written as none
	out, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("c.yaml", out)
	if err != nil || !reflect.DeepEqual(back.ShadowManager, f.ShadowManager) {
		t.Errorf("Marshal then Parse = %+v, %v; want %+v\n%s", back.ShadowManager, err, f.ShadowManager, out)
	}
}

func TestABadShadowManagerValueNamesItsKeyAndLine(t *testing.T) {
	_, _, err := Parse("c.yaml", []byte(strings.Replace(shadowManagerFile, "delay: 300", "delay: soon", 1)))
	if err == nil || !strings.Contains(err.Error(), "line 10: "+ShadowManagerPath+".strategy.delay: expected") {
		t.Errorf("Parse = %v, want an error naming strategy.delay on line 10", err)
	}
}
