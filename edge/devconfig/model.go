package devconfig

// File is a device configuration file.
type File struct {
	// System is Greengrass's system block: the device's identity and root.
	System System `yaml:"system"`
	// Nucleus is services.aws.greengrass.Nucleus.configuration.
	Nucleus Nucleus `yaml:"-"`
	// SecretManager is services.aws.greengrass.SecretManager.configuration:
	// the secrets the nucleus's secret manager fetches.
	SecretManager SecretManager `yaml:"-"`
	// NucleusVersion is services.aws.greengrass.Nucleus.version, kept so a
	// Greengrass file reads back unchanged; Sward does not use it.
	NucleusVersion string `yaml:"-"`
	// ShadowManager is services.aws.greengrass.ShadowManager.configuration:
	// the shadow sync and the local shadows' limits.
	ShadowManager ShadowManager `yaml:"-"`
	// Bridge is services.aws.greengrass.clientdevices.mqtt.Bridge.configuration:
	// the MQTT bridge's topic mappings.
	Bridge Bridge `yaml:"-"`
	// Sward is the top-level sward section: `sward run` flag names
	// (without the dashes in front) and their values, in file order.
	Sward []Setting `yaml:"-"`
	// Dir is the folder of the file (Load sets it): relative paths in it
	// are relative to this folder. Empty for Parse: relative to the
	// working directory.
	Dir string `yaml:"-"`

	lines map[string]int // key path → line, for messages about values
}

// Line is the line of the key at path ("system.thingName"), 0 when the
// file does not have it.
func (f *File) Line(path string) int { return f.lines[path] }

// System is Greengrass's system block.
type System struct {
	CertificateFilePath string `yaml:"certificateFilePath,omitempty"`
	PrivateKeyPath      string `yaml:"privateKeyPath,omitempty"`
	RootCAPath          string `yaml:"rootCaPath,omitempty"`
	RootPath            string `yaml:"rootpath,omitempty"`
	ThingName           string `yaml:"thingName,omitempty"`
}

// Nucleus is the Greengrass nucleus configuration Sward reads. Keys of
// Greengrass's that have no meaning here (ignoredNucleusKeys) are accepted
// without a warning and dropped.
type Nucleus struct {
	AWSRegion       string `yaml:"awsRegion,omitempty"`
	IoTDataEndpoint string `yaml:"iotDataEndpoint,omitempty"`
	IoTCredEndpoint string `yaml:"iotCredEndpoint,omitempty"`
	IoTRoleAlias    string `yaml:"iotRoleAlias,omitempty"`
	MQTT            MQTT   `yaml:"mqtt,omitempty"`
	// NetworkProxy is the proxy outbound connections go through.
	NetworkProxy NetworkProxy `yaml:"networkProxy,omitempty"`
	// PlatformOverride adds to or replaces attributes of the detected
	// platform (`sward run --platform`).
	PlatformOverride map[string]string `yaml:"platformOverride,omitempty"`
	RunWithDefault   RunWithDefault    `yaml:"runWithDefault,omitempty"`
	// InterpolateComponentConfiguration is `sward run
	// --interpolate-component-configuration`; nil: not set.
	InterpolateComponentConfiguration *bool `yaml:"interpolateComponentConfiguration,omitempty"`
	// GreengrassDataPlanePort is the port of Greengrass's data plane
	// (8443 or 443); kept for the file's sake.
	GreengrassDataPlanePort int `yaml:"greengrassDataPlanePort,omitempty"`
	// ComponentStoreMaxSizeBytes bounds the component store.
	ComponentStoreMaxSizeBytes int64 `yaml:"componentStoreMaxSizeBytes,omitempty"`
	// DeploymentPollingFrequencySeconds is how often Greengrass polls for
	// deployments when offline notifications are missed.
	DeploymentPollingFrequencySeconds int     `yaml:"deploymentPollingFrequencySeconds,omitempty"`
	Logging                           Logging `yaml:"logging,omitempty"`
	// FleetStatus is the fleet status service's cadence (edge/fleet).
	FleetStatus FleetStatus `yaml:"fleetStatus,omitempty"`
}

// FleetStatus configures the fleet status reports.
type FleetStatus struct {
	// PeriodicStatusPublishIntervalSeconds is the time between periodic
	// reports (Greengrass default and minimum 86400; Sward takes any
	// positive number).
	PeriodicStatusPublishIntervalSeconds int `yaml:"periodicStatusPublishIntervalSeconds,omitempty"`
}

// MQTT is the nucleus's connection to AWS IoT Core.
type MQTT struct {
	// Port is 8883 (MQTT over TLS) or 443 (ALPN x-amzn-mqtt-ca); 0: 8883.
	Port int `yaml:"port,omitempty"`
	// KeepAliveTimeoutMs is the MQTT keep-alive (Greengrass default 60000).
	KeepAliveTimeoutMs int `yaml:"keepAliveTimeoutMs,omitempty"`
	// PingTimeoutMs is how long a PINGRESP may take (default 30000).
	PingTimeoutMs int `yaml:"pingTimeoutMs,omitempty"`
	// OperationTimeoutMs bounds a publish or subscribe (default 30000).
	OperationTimeoutMs int `yaml:"operationTimeoutMs,omitempty"`
	// MaxInFlightPublishes bounds unacknowledged QoS 1 publishes.
	MaxInFlightPublishes int `yaml:"maxInFlightPublishes,omitempty"`
	// MaxMessageSizeInBytes is the largest message (IoT Core: 128 KB).
	MaxMessageSizeInBytes int `yaml:"maxMessageSizeInBytes,omitempty"`
	// MaxPublishRetry is how often a failed publish is retried (-1: no
	// end).
	MaxPublishRetry int     `yaml:"maxPublishRetry,omitempty"`
	Spooler         Spooler `yaml:"spooler,omitempty"`
	// Version is mqtt3 or mqtt5 (Greengrass's default); Sward's link
	// speaks MQTT 3.1.1 whatever it says.
	Version string `yaml:"version,omitempty"`
	// ReceiveMaximum and SessionExpirySeconds are MQTT 5 settings.
	ReceiveMaximum       int `yaml:"receiveMaximum,omitempty"`
	SessionExpirySeconds int `yaml:"sessionExpirySeconds,omitempty"`
	// MinimumReconnectDelaySeconds and MaximumReconnectDelaySeconds bound
	// the reconnect backoff (Greengrass: 1 and 120);
	// MinimumConnectedTimeBeforeRetryResetSeconds is how long a connection
	// must last before the backoff starts again from the minimum (30).
	MinimumReconnectDelaySeconds                int `yaml:"minimumReconnectDelaySeconds,omitempty"`
	MaximumReconnectDelaySeconds                int `yaml:"maximumReconnectDelaySeconds,omitempty"`
	MinimumConnectedTimeBeforeRetryResetSeconds int `yaml:"minimumConnectedTimeBeforeRetryResetSeconds,omitempty"`
	// StandaloneMqttTimeoutMs is Greengrass's connectivity-switch timeout.
	StandaloneMqttTimeoutMs int `yaml:"standaloneMqttTimeoutMs,omitempty"`
}

// Spooler bounds the messages kept for IoT Core while offline.
type Spooler struct {
	// MaxSizeInBytes bounds the spool (Greengrass default 2621440).
	MaxSizeInBytes int64 `yaml:"maxSizeInBytes,omitempty"`
	// KeepQos0WhenOffline spools QoS 0 messages too.
	KeepQos0WhenOffline bool `yaml:"keepQos0WhenOffline,omitempty"`
	// StorageType is Greengrass's Memory or Disk; Sward's spool is on
	// disk either way.
	StorageType string `yaml:"storageType,omitempty"`
	// PluginName is Greengrass's disk spooler component; not used here.
	PluginName string `yaml:"pluginName,omitempty"`
}

// NetworkProxy is Greengrass's networkProxy.
type NetworkProxy struct {
	// NoProxyAddresses is a comma-separated list of hosts reached directly.
	NoProxyAddresses string `yaml:"noProxyAddresses,omitempty"`
	Proxy            Proxy  `yaml:"proxy,omitempty"`
}

// Proxy is the proxy server.
type Proxy struct {
	URL      string `yaml:"url,omitempty"`
	Username string `yaml:"username,omitempty"`
	Password string `yaml:"password,omitempty"`
}

// RunWithDefault is who components run as and their default limits.
type RunWithDefault struct {
	// PosixUser is "user[:group]" (`sward run --run-as`).
	PosixUser string `yaml:"posixUser,omitempty"`
	// PosixShell and WindowsUser are Greengrass's; Sward runs steps with
	// sh and on Linux only.
	PosixShell  string `yaml:"posixShell,omitempty"`
	WindowsUser string `yaml:"windowsUser,omitempty"`
	// SystemResourceLimits is `sward run --default-system-limits`.
	SystemResourceLimits *SystemResourceLimits `yaml:"systemResourceLimits,omitempty"`
}

// SystemResourceLimits caps a component: CPUs in cores, Memory in KB.
type SystemResourceLimits struct {
	CPUs   float64 `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Memory int64   `yaml:"memory,omitempty" json:"memory,omitempty"`
}

// Logging is Greengrass's logging block; Sward reads Level.
type Logging struct {
	// Level is TRACE, DEBUG, INFO, WARN or ERROR (`sward run --log-level`).
	Level string `yaml:"level,omitempty"`
	// The others are Greengrass's and kept for the file's sake.
	Format          string `yaml:"format,omitempty"`
	OutputType      string `yaml:"outputType,omitempty"`
	OutputDirectory string `yaml:"outputDirectory,omitempty"`
	FileSizeKB      int64  `yaml:"fileSizeKB,omitempty"`
	TotalLogsSizeKB int64  `yaml:"totalLogsSizeKB,omitempty"`
}

// Setting is one key of the sward section.
type Setting struct {
	// Name is the `sward run` flag it sets, without dashes.
	Name string
	// Value is the scalar as written; the flag parses it.
	Value string
	// Line is where it is in the file.
	Line int
}

// Path is where s is in the file, for messages.
func (s Setting) Path() string { return SwardSection + "." + s.Name }

// SecretManager is Greengrass's aws.greengrass.SecretManager component
// configuration.
type SecretManager struct {
	// CloudSecrets are the secrets to fetch from AWS Secrets Manager.
	CloudSecrets []CloudSecret `yaml:"cloudSecrets,omitempty"`
}

// CloudSecret names one secret.
type CloudSecret struct {
	// ARN is the secret's full ARN (with the suffix Secrets Manager adds).
	ARN string `yaml:"arn"`
}

// ARNs lists the secrets' ARNs.
func (s SecretManager) ARNs() []string {
	var arns []string
	for _, c := range s.CloudSecrets {
		arns = append(arns, c.ARN)
	}
	return arns
}
