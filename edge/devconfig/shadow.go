package devconfig

// ShadowManagerService is Greengrass's shadow manager component, whose
// configuration the file may carry under services (the nucleus runs the
// shadows and their sync itself: edge/shadow, edge/shadowsync).
const ShadowManagerService = "aws.greengrass.ShadowManager"

// ShadowManagerPath is the shadow manager configuration's path, for
// messages.
const ShadowManagerPath = "services." + ShadowManagerService + ".configuration"

// ShadowManager is services.aws.greengrass.ShadowManager.configuration,
// with Greengrass's keys.
type ShadowManager struct {
	// Synchronize names the shadows synced with IoT Core and the
	// direction; nil: no sync.
	Synchronize *Synchronize `yaml:"synchronize,omitempty"`
	// Strategy is realTime (the default) or periodic with a delay.
	Strategy *ShadowStrategy `yaml:"strategy,omitempty"`
	// RateLimits bound the sync's and the components' requests.
	RateLimits ShadowRateLimits `yaml:"rateLimits,omitempty"`
	// ShadowDocumentSizeLimitBytes is the largest shadow state (8192 by
	// default, at most 30720): `sward run --shadow-max-bytes`.
	ShadowDocumentSizeLimitBytes int `yaml:"shadowDocumentSizeLimitBytes,omitempty"`
}

// Synchronize is the shadow manager's synchronize block.
type Synchronize struct {
	// CoreThing is the core device's own shadows (thingName is the
	// device's, from system.thingName).
	CoreThing *SyncShadows `yaml:"coreThing,omitempty"`
	// ShadowDocuments are other things' shadows (client devices).
	ShadowDocuments []SyncShadows `yaml:"shadowDocuments,omitempty"`
	// Direction is betweenDeviceAndCloud (the default), deviceToCloud or
	// cloudToDevice.
	Direction string `yaml:"direction,omitempty"`
}

// SyncShadows is one thing's shadows to sync.
type SyncShadows struct {
	// ThingName names the thing (not used under coreThing).
	ThingName string `yaml:"thingName,omitempty"`
	// Classic syncs the classic shadow; unset means true, as in Greengrass.
	Classic *bool `yaml:"classic,omitempty"`
	// NamedShadows are the named shadows to sync.
	NamedShadows []string `yaml:"namedShadows,omitempty"`
}

// ClassicOrDefault is Classic, true when unset.
func (s SyncShadows) ClassicOrDefault() bool { return s.Classic == nil || *s.Classic }

// ShadowStrategy is the sync strategy.
type ShadowStrategy struct {
	// Type is realTime or periodic.
	Type string `yaml:"type,omitempty"`
	// Delay is the seconds between periodic syncs.
	Delay int `yaml:"delay,omitempty"`
}

// ShadowRateLimits are the shadow manager's rateLimits.
type ShadowRateLimits struct {
	// MaxOutboundSyncUpdatesPerSecond bounds the sync's requests to IoT
	// Core (default 100).
	MaxOutboundSyncUpdatesPerSecond int `yaml:"maxOutboundSyncUpdatesPerSecond,omitempty"`
	// MaxLocalRequestsPerSecondPerThing bounds the local requests per
	// thing (default 20): `sward run --shadow-rate`.
	MaxLocalRequestsPerSecondPerThing int `yaml:"maxLocalRequestsPerSecondPerThing,omitempty"`
	// MaxTotalLocalRequestsRate is Greengrass's bound on all local
	// requests together; read and not enforced (the per-thing rate and the
	// IPC front end's fairness lanes bound the load).
	MaxTotalLocalRequestsRate int `yaml:"maxTotalLocalRequestsRate,omitempty"`
}
