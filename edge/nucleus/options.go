package nucleus

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sward-iot/sward/edge/bridge"
	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/spool"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// Options configures a Nucleus. Zero values take the documented defaults.
type Options struct {
	// Root is the folder that holds everything the nucleus owns. Required.
	Root string
	// RecipesDir, when set, is deployed at start: the latest version of every
	// component found in it (recursively).
	RecipesDir string
	// ArtifactsDir holds artifacts as <dir>/<Name>/<Version>/<file>.
	ArtifactsDir string
	// GitRepo, when set, is a local git repository whose branch GitBranch
	// (default: the checked-out one) is deployed at every new commit, from
	// the folder GitPath (default "recipes") of the committed tree.
	GitRepo, GitBranch, GitPath string
	// FailureHandling is the failure policy of the --recipes and --git
	// deployments: ROLLBACK (default) or DO_NOTHING.
	FailureHandling string
	// DeploymentTimeout bounds how long a deployment waits for its
	// components to settle (default deployment.DefaultTimeout).
	DeploymentTimeout time.Duration
	// NATSListen and MQTTListen are the broker listeners ("host:port").
	// Default 127.0.0.1:4222 and 127.0.0.1:1883; MQTTListen "off" disables MQTT.
	NATSListen, MQTTListen string
	// TLSCert, TLSKey and TLSCA secure non-loopback listeners (TLSCA asks
	// clients for certificates).
	TLSCert, TLSKey, TLSCA string
	// TLSServerCA is the CA bundle (PEM) that signed TLSCert, published to
	// components and the CLI as <root>/public/ca.pem; empty: the CA
	// certificates after the leaf in TLSCert, else the leaf itself.
	TLSServerCA string
	// ThingName is the device's AWS IoT thing name. Default: the host name.
	ThingName string
	// Region is the AWS region components see. Default: $AWS_REGION, else us-east-1.
	Region string
	// ComponentStoreMaxSizeBytes bounds the component store on disk: a
	// deployment whose downloads would grow it past this fails before
	// downloading (Greengrass's componentStoreMaxSizeBytes; default
	// store.DefaultMaxSizeBytes, 10 GB).
	ComponentStoreMaxSizeBytes int64
	// Platform is the platform manifests are selected for. Default:
	// recipe.HostPlatform(); `sward run --platform` passes the detected
	// platform with its attributes added or replaced (Platform.Override).
	Platform recipe.Platform
	// InterpolateComponentConfiguration makes deployments expand recipe
	// variables such as {iot:thingName} and {work:path} in components'
	// configuration values, as Greengrass's nucleus option
	// interpolateComponentConfiguration does. Off by default, as there.
	InterpolateComponentConfiguration bool
	// RunAs is the "user[:group]" non-privileged steps run as when the
	// nucleus is root. Default: DefaultComponentUser:DefaultComponentGroup,
	// created on first start when missing; a nucleus that is not root runs
	// components as its own user (and warns once).
	RunAs string
	// ComponentUIDs gives each component its own uid and gid from
	// lifecycle.ComponentUIDFirst–ComponentUIDLast, stable per component
	// name (recorded in <root>/state/uids.json), when the nucleus is root;
	// it wins over RunAs, a deployment's runWith posixUser wins over it.
	ComponentUIDs bool
	// DefaultLimits cap every component whose deployment sets no
	// systemResourceLimits (per field; Greengrass's runWithDefault
	// systemResourceLimits). Zero: no limit.
	DefaultLimits lifecycle.ResourceLimits
	// Logger receives the nucleus's structured logs. Default: slog.Default().
	Logger *slog.Logger
	// KeepStartupPages leaves the executable's pages resident after start.
	// By default the nucleus pages them out once started (see
	// trimStartupPages): idle memory then counts only what it touches.
	KeepStartupPages bool
	// ShutdownTimeout bounds Shutdown when its context has no deadline.
	ShutdownTimeout time.Duration
	// MetricsListen is the Prometheus /metrics endpoint ("host:port" on
	// loopback, port 0 for a random one), or "off". Default
	// DefaultMetricsListen; when that port is taken the nucleus logs a
	// warning and keeps trying to bind it in the background.
	MetricsListen string
	// DevicesFile is the client-device file (see Devices): MQTT/NATS users
	// with topic permissions, and whether loopback clients must log in.
	// Empty: anonymous clients on loopback listeners may use every topic.
	DevicesFile string
	// ShadowMaxBytes is the largest shadow document (default 8192, at most
	// 30720); ShadowRate the requests per second per thing (default 20,
	// negative: unlimited). See edge/shadow.
	ShadowMaxBytes, ShadowRate int
	// MQTT bounds MQTT retained messages and sessions (zero fields: the
	// broker's defaults, see broker.MQTTLimits).
	MQTT broker.MQTTLimits
	// Cloud is the link to AWS IoT Core (`sward run --config`: the file's
	// system block and nucleus settings). Zero: no link. Its ThingName and
	// Region default to ThingName and Region.
	Cloud devconfig.Cloud
	// CloudSecrets are the ARNs of the secrets the secret manager fetches
	// with the token exchange service's credentials and serves over the IPC
	// (the file's services.aws.greengrass.SecretManager.configuration.cloudSecrets).
	// It needs Cloud's PrivateKeyFile, from which the store's key is derived.
	CloudSecrets []string
	// IoTCore is the connection to AWS IoT Core (edge/iotcore). Empty
	// Endpoint (the default): no cloud link, the service is not started.
	// ThingName, JetStream, Conn and Logger are the nucleus's own.
	IoTCore iotcore.Options
	// Bridge are the MQTT bridge's topic mappings (edge/bridge; the config
	// file's services.aws.greengrass.clientdevices.mqtt.Bridge). None: no
	// bridge.
	Bridge []bridge.Mapping
}

// DefaultMetricsListen is the /metrics endpoint: loopback only, as it has no
// authentication; 9464 is the port Prometheus exporters of
// OpenTelemetry use, rarely taken on a device.
const DefaultMetricsListen = "127.0.0.1:9464"

// defaultShutdownTimeout covers the Greengrass default Shutdown step timeout
// (15 s) plus the stop grace, so a clean Ctrl-C never cuts a Shutdown short.
const defaultShutdownTimeout = 30 * time.Second

func (o *Options) setDefaults() error {
	if o.Root == "" {
		return fmt.Errorf("no root folder: set --root (for example ~/.sward)")
	}
	abs, err := filepath.Abs(o.Root)
	if err != nil {
		return fmt.Errorf("root folder %s: %w", o.Root, err)
	}
	o.Root = abs
	if o.NATSListen == "" {
		o.NATSListen = "127.0.0.1:4222"
	}
	if o.MQTTListen == "" {
		o.MQTTListen = "127.0.0.1:1883"
	}
	if o.MetricsListen == "" {
		o.MetricsListen = DefaultMetricsListen
	}
	if o.ThingName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "sward-device"
		}
		o.ThingName = host
	}
	if o.Region == "" {
		o.Region = os.Getenv("AWS_REGION")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Cloud.Configured() {
		if o.Cloud.ThingName == "" {
			o.Cloud.ThingName = o.ThingName
		}
		if o.Cloud.Region == "" {
			o.Cloud.Region = o.Region
		}
		if err := o.Cloud.Validate(); err != nil {
			return err
		}
		if o.IoTCore.Endpoint == "" {
			o.IoTCore = iotcoreOptions(o.Cloud)
		}
	}
	if o.Platform == nil {
		o.Platform = recipe.HostPlatform()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch o.FailureHandling {
	case "":
		o.FailureHandling = string(ddoc.Rollback)
	case string(ddoc.Rollback), string(ddoc.DoNothing):
	default:
		return fmt.Errorf("failure handling policy %q is not one: use ROLLBACK or DO_NOTHING", o.FailureHandling)
	}
	if o.ComponentStoreMaxSizeBytes < 0 {
		return fmt.Errorf("%s.componentStoreMaxSizeBytes %d is negative: give the component store's size limit in bytes (default 10000000000)",
			devconfig.NucleusPath, o.ComponentStoreMaxSizeBytes)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	for _, dir := range []*string{&o.RecipesDir, &o.ArtifactsDir, &o.GitRepo} {
		if *dir == "" {
			continue
		}
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return err
		}
		*dir = abs
	}
	if o.RecipesDir != "" {
		if st, err := os.Stat(o.RecipesDir); err != nil || !st.IsDir() {
			return fmt.Errorf("recipes folder %s does not exist or is not a folder: pass --recipes DIR", o.RecipesDir)
		}
	}
	return nil
}

// iotcoreOptions are the IoT Core connection's options from the device
// configuration file's cloud settings (Greengrass's names in comments).
func iotcoreOptions(c devconfig.Cloud) iotcore.Options {
	return iotcore.Options{
		Endpoint:            c.DataEndpoint,                           // iotDataEndpoint
		Port:                c.Port,                                   // mqtt.port
		ALPN:                c.Port == 443,                            // IoT Core requires ALPN x-amzn-mqtt-ca on 443
		CertFile:            c.CertificateFile,                        // system.certificateFilePath
		KeyFile:             c.PrivateKeyFile,                         // system.privateKeyPath
		RootCAFile:          c.RootCAFile,                             // system.rootCaPath
		KeepAlive:           c.KeepAlive,                              // mqtt.keepAliveTimeoutMs
		PingTimeout:         c.PingTimeout,                            // mqtt.pingTimeoutMs
		ConnectTimeout:      c.OperationTimeout,                       // mqtt.operationTimeoutMs
		MinBackoff:          c.MinReconnectDelay,                      // mqtt.minimumReconnectDelaySeconds
		MaxBackoff:          c.MaxReconnectDelay,                      // mqtt.maximumReconnectDelaySeconds
		MaxInFlight:         c.MaxInFlightPublishes,                   // mqtt.maxInFlightPublishes
		Spool:               spool.Options{MaxBytes: c.SpoolMaxBytes}, // mqtt.spooler.maxSizeInBytes
		KeepQoS0WhenOffline: c.KeepQoS0WhenOffline,                    // mqtt.spooler.keepQos0WhenOffline
	}
}
