package iotcore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/shared/topics"
)

// IoT Core's limits (AWS IoT Core endpoints and quotas, message broker).
const (
	// MaxPayload is the largest MQTT payload IoT Core accepts (128 KB).
	MaxPayload = 128 * 1024
	// MaxTopicBytes is the longest topic name IoT Core accepts.
	MaxTopicBytes = 256
	// MaxFiltersPerSubscribe is IoT Core's hard limit of topic filters in
	// one SUBSCRIBE packet.
	MaxFiltersPerSubscribe = 8
	// DefaultMaxSubscriptions is IoT Core's default quota of subscriptions
	// per connection; beyond it the service opens another connection.
	DefaultMaxSubscriptions = 50
	// DefaultPublishRate is IoT Core's hard limit of publish requests per
	// second per connection: publishing faster is throttled by IoT Core.
	DefaultPublishRate = 100
	// DefaultMaxInFlight bounds QoS 1 publishes awaiting their PUBACK; IoT
	// Core allows 100 unacknowledged messages in flight per client.
	DefaultMaxInFlight = 100
	// DefaultMaxPublishRetry is Greengrass's mqtt.maxPublishRetry default.
	DefaultMaxPublishRetry = 100
)

// Defaults for the connection, as Greengrass's nucleus has them where it
// has them (mqtt.keepAliveTimeoutMs, mqtt.pingTimeoutMs).
const (
	DefaultPort           = 8883
	DefaultKeepAlive      = 60 * time.Second
	DefaultPingTimeout    = 30 * time.Second
	DefaultConnectTimeout = 30 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between
	// connection attempts: the first retry comes within a second, and a
	// fleet that lost the endpoint does not retry more than every two
	// minutes each (with jitter, so they do not come back all at once).
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 2 * time.Minute
)

// ALPNProtocol is what a device offers in TLS ALPN to reach IoT Core's
// MQTT with client certificates on port 443.
const ALPNProtocol = "x-amzn-mqtt-ca"

// Options configures the IoT Core connection.
type Options struct {
	// ThingName is the device's thing name and its MQTT client id
	// (additional connections use ThingName#2, #3, … as Greengrass does).
	// Required.
	ThingName string
	// Endpoint is the IoT data endpoint's host name (iotDataEndpoint).
	// Required.
	Endpoint string
	// Port is 8883 (default) or 443; on 443 the TLS handshake offers ALPN
	// x-amzn-mqtt-ca, as IoT Core requires there. Tests use any port with
	// ALPN set to force it.
	Port int
	ALPN bool
	// CertFile, KeyFile and RootCAFile are the device certificate, its
	// private key and the CA bundle that signed the endpoint's certificate
	// (PEM). Required.
	CertFile, KeyFile, RootCAFile string

	// KeepAlive, PingTimeout and ConnectTimeout default to DefaultKeepAlive,
	// DefaultPingTimeout and DefaultConnectTimeout.
	KeepAlive, PingTimeout, ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection attempts
	// (capped exponential backoff with jitter).
	MinBackoff, MaxBackoff time.Duration

	// PublishRate caps publishes per second per connection. Zero means
	// DefaultPublishRate; negative means no cap (for stand-ins of IoT
	// Core without its quota).
	PublishRate float64
	// MaxSubscriptions is the topic filters per connection. Zero means
	// DefaultMaxSubscriptions.
	MaxSubscriptions int
	// MaxInFlight bounds QoS 1 publishes awaiting their PUBACK. Zero means
	// DefaultMaxInFlight.
	MaxInFlight int
	// MaxPublishRetry is how many connections in a row may end while the
	// same spooled message awaits its PUBACK before that message is
	// dropped as one IoT Core will not take (Greengrass's
	// mqtt.maxPublishRetry). Zero means DefaultMaxPublishRetry; negative
	// never drops.
	MaxPublishRetry int

	// Spool bounds and full policy (spooler.maxSizeInBytes; drop oldest or
	// refuse new). JetStream is filled in from Options.JetStream.
	Spool spool.Options
	// KeepQoS0WhenOffline spools QoS 0 messages while offline
	// (spooler.keepQos0WhenOffline); otherwise Publish refuses them then.
	KeepQoS0WhenOffline bool

	// JetStream holds the spool. Required.
	JetStream jetstream.JetStream
	// Conn, when set, is where the state events are published
	// (topics.CloudLinkStateSubject).
	Conn *nats.Conn
	// Logger gets the service's logs. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) validate() error {
	if err := topics.ValidateThingName(o.ThingName); err != nil {
		return fmt.Errorf("iotcore thing name: %w", err)
	}
	if o.Endpoint == "" {
		return errors.New("iotcore: the IoT data endpoint is empty: set iotDataEndpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)")
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("iotcore: mqtt.port %d is not a port: use 8883 or 443", o.Port)
	}
	for name, f := range map[string]string{"certificateFilePath": o.CertFile, "privateKeyPath": o.KeyFile, "rootCaPath": o.RootCAFile} {
		if f == "" {
			return fmt.Errorf("iotcore: %s is empty: the connection to IoT Core needs the device certificate, its key and the root CA", name)
		}
	}
	if o.JetStream == nil {
		return errors.New("iotcore: Options.JetStream is required (the spool)")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAlive, DefaultKeepAlive)
	def(&o.PingTimeout, DefaultPingTimeout)
	def(&o.ConnectTimeout, DefaultConnectTimeout)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.PublishRate == 0 {
		o.PublishRate = DefaultPublishRate
	}
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxPublishRetry == 0 {
		o.MaxPublishRetry = DefaultMaxPublishRetry
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// address is the endpoint as host:port.
func (o *Options) address() string { return net.JoinHostPort(o.Endpoint, strconv.Itoa(o.Port)) }

// tlsConfig loads the device certificate and the root CA: mutual TLS, with
// ALPN x-amzn-mqtt-ca on port 443.
func (o *Options) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("iotcore: device certificate %s with key %s: %w", o.CertFile, o.KeyFile, err)
	}
	pem, err := os.ReadFile(o.RootCAFile)
	if err != nil {
		return nil, fmt.Errorf("iotcore: root CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("iotcore: root CA %s holds no PEM certificate (download AmazonRootCA1.pem)", o.RootCAFile)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   o.Endpoint,
		MinVersion:   tls.VersionTLS12,
	}
	if o.Port == 443 || o.ALPN {
		cfg.NextProtos = []string{ALPNProtocol}
	}
	return cfg, nil
}
