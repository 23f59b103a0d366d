package shadowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/shared/topics"
)

// Direction is Greengrass's synchronize.direction.
type Direction string

// The directions, by Greengrass's names.
const (
	// BetweenDeviceAndCloud syncs both ways (the default).
	BetweenDeviceAndCloud Direction = "betweenDeviceAndCloud"
	// DeviceToCloud writes local changes to the cloud only.
	DeviceToCloud Direction = "deviceToCloud"
	// CloudToDevice writes cloud changes to the device only.
	CloudToDevice Direction = "cloudToDevice"
)

// Strategy types, by Greengrass's names (strategy.type).
const (
	RealTime = "realTime"
	Periodic = "periodic"
)

// Defaults.
const (
	// DefaultMaxOutboundPerSecond is Greengrass's
	// rateLimits.maxOutboundSyncUpdatesPerSecond (100): IoT Core's shadow
	// update rate per account is far higher, and its 100 publishes per
	// second per connection is shared with the rest of the link.
	DefaultMaxOutboundPerSecond = 100
	// DefaultBucket holds one sync record per shadow.
	DefaultBucket = "sward_shadow_sync"
	// DefaultRequestTimeout bounds one request to the cloud shadow
	// service; IoT Core answers within a second, so ten mean the answer
	// was lost (and the request is retried).
	DefaultRequestTimeout = 10 * time.Second
)

// ConfigPath is where the configuration sits in the device configuration
// file, for messages.
const ConfigPath = "services.aws.greengrass.ShadowManager.configuration"

// Config is Greengrass ShadowManager's sync configuration, as the device
// configuration file holds it (edge/devconfig).
type Config struct {
	// CoreThing is synchronize.coreThing: the core device's own shadows.
	CoreThing *Document
	// Documents is synchronize.shadowDocuments: other things' shadows
	// (client devices).
	Documents []Document
	// Direction is synchronize.direction; "" is BetweenDeviceAndCloud.
	Direction Direction
	// Strategy is strategy.type, RealTime ("" too) or Periodic; Delay is
	// strategy.delay, the seconds between periodic syncs.
	Strategy string
	Delay    time.Duration
	// MaxOutboundPerSecond is rateLimits.maxOutboundSyncUpdatesPerSecond:
	// requests to the cloud per second. 0: DefaultMaxOutboundPerSecond.
	MaxOutboundPerSecond float64
}

// Document is one thing's shadows to sync: its classic shadow and named
// ones. Thing is empty for the core thing.
type Document struct {
	Thing        string
	Classic      bool
	NamedShadows []string
}

// Shadow names one shadow: Name "" is the classic one.
type Shadow struct {
	Thing, Name string
}

func (s Shadow) String() string {
	if s.Name == "" {
		return s.Thing + " (classic)"
	}
	return s.Thing + "/" + s.Name
}

// Shadows validates c and lists the shadows it names, without
// duplicates. Errors name the key under ConfigPath and the fix.
func (c Config) Shadows(coreThing string) ([]Shadow, error) {
	var errs []error
	var out []Shadow
	add := func(path, thing string, d Document) {
		if err := topics.ValidateThingName(thing); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s.thingName: %w", ConfigPath, path, err))
			return
		}
		if d.Classic {
			out = append(out, Shadow{Thing: thing})
		}
		for i, n := range d.NamedShadows {
			if !shadow.ValidShadowName(n) {
				errs = append(errs, fmt.Errorf("%s.%s.namedShadows[%d]: %q is not a shadow name: use 1-64 characters from a-z A-Z 0-9 : _ -", ConfigPath, path, i, n))
				continue
			}
			out = append(out, Shadow{Thing: thing, Name: n})
		}
	}
	if c.CoreThing != nil {
		add("synchronize.coreThing", coreThing, *c.CoreThing)
	}
	for i, d := range c.Documents {
		add(fmt.Sprintf("synchronize.shadowDocuments[%d]", i), d.Thing, d)
	}
	switch c.Direction {
	case "", BetweenDeviceAndCloud, DeviceToCloud, CloudToDevice:
	default:
		errs = append(errs, fmt.Errorf("%s.synchronize.direction: %q is not a direction: use %s (the default), %s or %s",
			ConfigPath, c.Direction, BetweenDeviceAndCloud, DeviceToCloud, CloudToDevice))
	}
	switch c.Strategy {
	case "", RealTime:
	case Periodic:
		if c.Delay <= 0 {
			errs = append(errs, fmt.Errorf("%s.strategy.delay: a periodic strategy needs a delay in seconds above 0", ConfigPath))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.strategy.type: %q is not a strategy: use %s (the default) or %s with a delay", ConfigPath, c.Strategy, RealTime, Periodic))
	}
	if c.MaxOutboundPerSecond < 0 {
		errs = append(errs, fmt.Errorf("%s.rateLimits.maxOutboundSyncUpdatesPerSecond: %v is negative: use a rate above 0 (default %d)", ConfigPath, c.MaxOutboundPerSecond, DefaultMaxOutboundPerSecond))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Shadow) int {
		if a.Thing != b.Thing {
			return cmpString(a.Thing, b.Thing)
		}
		return cmpString(a.Name, b.Name)
	})
	return slices.Compact(out), nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Local is the device's shadow service (edge/shadow.Service).
type Local interface {
	Snapshot(ctx context.Context, thing, name string) (shadow.Snapshot, error)
	SyncUpdate(ctx context.Context, thing, name string, doc []byte) (int64, error)
	SyncDelete(ctx context.Context, thing, name string, version int64) error
	Watch(ctx context.Context, changed func(thing, name string)) (done <-chan struct{}, err error)
}

// Link is the part of the IoT Core connection (edge/iotcore) the service
// uses.
type Link interface {
	Publish(ctx context.Context, m iotcore.Message) error
	Subscribe(ctx context.Context, filter string, qos byte, h iotcore.Handler) (func(context.Context) error, error)
	State(ctx context.Context) iotcore.State
}

// Options configure the service.
type Options struct {
	// Config is what to sync and how. Required.
	Config Config
	// ThingName is the core device's thing (synchronize.coreThing).
	ThingName string
	// Local is the device's shadow service. Required.
	Local Local
	// Link is the connection to IoT Core. Required.
	Link Link
	// Conn is the nucleus's bus connection: the link's state events and
	// the sync records' KV bucket. Required.
	Conn *nats.Conn
	// Bucket holds the sync records; "" is DefaultBucket.
	Bucket string
	// RequestTimeout bounds a request to the cloud; 0 is
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger gets the service's logs (service=shadowsync).
	Logger *slog.Logger
}
