package devconfig

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Greengrass's defaults for the IoT Core connection, which a file that
// leaves a value out gets, so a Greengrass device behaves the same here.
const (
	// DefaultMQTTPort is MQTT over TLS; 443 (ALPN x-amzn-mqtt-ca) passes
	// firewalls that only let HTTPS out.
	DefaultMQTTPort = 8883
	// DefaultKeepAlive is Greengrass's keepAliveTimeoutMs: IoT Core closes
	// a connection after 1.5 keep-alives of silence, so a minute notices a
	// dead link within 90 s for one small PINGREQ a minute.
	DefaultKeepAlive = 60 * time.Second
	// DefaultPingTimeout is Greengrass's pingTimeoutMs.
	DefaultPingTimeout = 30 * time.Second
	// DefaultOperationTimeout is Greengrass's operationTimeoutMs.
	DefaultOperationTimeout = 30 * time.Second
	// DefaultFleetStatusInterval is Greengrass's
	// fleetStatus.periodicStatusPublishIntervalSeconds default (86400 s).
	DefaultFleetStatusInterval = 24 * time.Hour
	// DefaultSpoolMaxBytes is Greengrass's spooler maxSizeInBytes (2.5 MB).
	DefaultSpoolMaxBytes = 2621440
	// DefaultMinReconnectDelay and DefaultMaxReconnectDelay are
	// Greengrass's reconnect backoff bounds: a second keeps a flapping
	// link responsive, two minutes keeps a fleet from hammering IoT Core
	// after an outage.
	DefaultMinReconnectDelay = time.Second
	DefaultMaxReconnectDelay = 120 * time.Second
	// DefaultReconnectResetAfter is Greengrass's
	// minimumConnectedTimeBeforeRetryResetSeconds.
	DefaultReconnectResetAfter = 30 * time.Second
)

// Cloud is what the nucleus's link to AWS IoT Core needs: the device's
// identity, the account's endpoints and the connection's tuning. The zero
// Cloud (no data endpoint) means no link.
type Cloud struct {
	// ThingName is the MQTT client id and the thing the certificate is
	// attached to.
	ThingName string
	// Region is the AWS region of the endpoints.
	Region string
	// DataEndpoint is the iot:Data-ATS host (no port); Port its MQTT port.
	DataEndpoint string
	Port         int
	// CredentialsEndpoint is the iot:CredentialProvider host, with a
	// ":port" only when it is not 443 (devcloud).
	CredentialsEndpoint string
	// RoleAlias is the token exchange role alias.
	RoleAlias string
	// CertificateFile, PrivateKeyFile and RootCAFile are PEM files:
	// the device certificate and key, and the CA the endpoint chains to.
	CertificateFile, PrivateKeyFile, RootCAFile string
	// KeepAlive, PingTimeout and OperationTimeout tune the MQTT client.
	KeepAlive, PingTimeout, OperationTimeout time.Duration
	// MaxInFlightPublishes bounds unacknowledged QoS 1 publishes (0: the
	// client's default).
	MaxInFlightPublishes int
	// MinReconnectDelay and MaxReconnectDelay bound the reconnect backoff;
	// ReconnectResetAfter is how long a connection must last before it
	// starts again from the minimum.
	MinReconnectDelay, MaxReconnectDelay, ReconnectResetAfter time.Duration
	// SpoolMaxBytes bounds the messages kept while offline;
	// KeepQoS0WhenOffline spools QoS 0 messages too.
	SpoolMaxBytes       int64
	KeepQoS0WhenOffline bool
	// Proxy is the network proxy, if any.
	Proxy NetworkProxy
	// FleetStatusInterval is the time between periodic fleet status
	// reports (fleetStatus.periodicStatusPublishIntervalSeconds).
	FleetStatusInterval time.Duration
}

// Configured reports whether c describes a link (a data endpoint is set).
func (c Cloud) Configured() bool { return c.DataEndpoint != "" }

// Cloud returns the file's IoT Core settings with Greengrass's defaults
// for what it leaves out and relative paths made relative to f.Dir. A file
// without iotDataEndpoint gives the zero Cloud.
func (f *File) Cloud() Cloud {
	n := f.Nucleus
	if n.IoTDataEndpoint == "" {
		return Cloud{}
	}
	c := Cloud{
		ThingName:            f.System.ThingName,
		Region:               n.AWSRegion,
		DataEndpoint:         n.IoTDataEndpoint,
		Port:                 n.MQTT.Port,
		CredentialsEndpoint:  n.IoTCredEndpoint,
		RoleAlias:            n.IoTRoleAlias,
		CertificateFile:      f.path(f.System.CertificateFilePath),
		PrivateKeyFile:       f.path(f.System.PrivateKeyPath),
		RootCAFile:           f.path(f.System.RootCAPath),
		KeepAlive:            millis(n.MQTT.KeepAliveTimeoutMs, DefaultKeepAlive),
		PingTimeout:          millis(n.MQTT.PingTimeoutMs, DefaultPingTimeout),
		OperationTimeout:     millis(n.MQTT.OperationTimeoutMs, DefaultOperationTimeout),
		MaxInFlightPublishes: n.MQTT.MaxInFlightPublishes,
		MinReconnectDelay:    seconds(n.MQTT.MinimumReconnectDelaySeconds, DefaultMinReconnectDelay),
		MaxReconnectDelay:    seconds(n.MQTT.MaximumReconnectDelaySeconds, DefaultMaxReconnectDelay),
		ReconnectResetAfter:  seconds(n.MQTT.MinimumConnectedTimeBeforeRetryResetSeconds, DefaultReconnectResetAfter),
		SpoolMaxBytes:        n.MQTT.Spooler.MaxSizeInBytes,
		KeepQoS0WhenOffline:  n.MQTT.Spooler.KeepQos0WhenOffline,
		Proxy:                n.NetworkProxy,
		FleetStatusInterval:  seconds(n.FleetStatus.PeriodicStatusPublishIntervalSeconds, DefaultFleetStatusInterval),
	}
	// An endpoint written host:port (devcloud's) carries its port; an
	// explicit mqtt.port still wins.
	if host, port := SplitEndpoint(c.DataEndpoint); port != 0 {
		c.DataEndpoint = host
		if c.Port == 0 {
			c.Port = port
		}
	}
	if c.Port == 0 {
		c.Port = DefaultMQTTPort
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	return c
}

// Validate names every setting a configured link lacks or has out of
// range, by its place in the file.
func (c Cloud) Validate() error {
	if !c.Configured() {
		return nil
	}
	var errs []error
	missing := func(v, path string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is missing: a link to IoT Core (iotDataEndpoint is set) needs it; `sward provision` writes it", path))
		}
	}
	missing(c.ThingName, "system.thingName")
	missing(c.CertificateFile, "system.certificateFilePath")
	missing(c.PrivateKeyFile, "system.privateKeyPath")
	missing(c.RootCAFile, "system.rootCaPath")
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("%s.mqtt.port %d is not a port: use 8883, or 443 behind a firewall", NucleusPath, c.Port))
	}
	if c.MinReconnectDelay > c.MaxReconnectDelay {
		errs = append(errs, fmt.Errorf("%s.mqtt.minimumReconnectDelaySeconds (%v) is above maximumReconnectDelaySeconds (%v): swap them", NucleusPath, c.MinReconnectDelay, c.MaxReconnectDelay))
	}
	if _, err := c.Proxy.HTTPProxy(); err != nil {
		errs = append(errs, err)
	}
	if c.SpoolMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("%s.mqtt.spooler.maxSizeInBytes %d is negative: give a size in bytes", NucleusPath, c.SpoolMaxBytes))
	}
	return errors.Join(errs...)
}

// SplitEndpoint splits "host:port" (DescribeEndpoint's answer from
// devcloud) into host and port; a bare host (AWS's) has port 0.
func SplitEndpoint(addr string) (host string, port int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return addr, 0
	}
	return h, n
}

func seconds(s int, def time.Duration) time.Duration {
	if s <= 0 {
		return def
	}
	return time.Duration(s) * time.Second
}

func millis(ms int, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

// path makes a relative path relative to the file's folder.
func (f *File) path(p string) string {
	if p == "" || filepath.IsAbs(p) || f.Dir == "" {
		return p
	}
	return filepath.Join(f.Dir, p)
}

// Path is p as the file means it: relative to the file's folder.
func (f *File) Path(p string) string { return f.path(p) }
