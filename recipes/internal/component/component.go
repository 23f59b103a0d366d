// Package component holds what every sample component needs from the nucleus
// contract: the environment each lifecycle step receives, a JSON logger on
// stdout (which the nucleus writes to the component's log file), NATS
// connection options carrying the component's credentials, and the check
// that a name can be used as one token of a NATS subject or MQTT topic.
//
// Samples import it instead of repeating these few lines; a component
// written outside this repository needs nothing more than os.Getenv.
package component

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// Env is the environment the nucleus sets for every lifecycle step.
type Env struct {
	NATSURL      string // SWARD_NATS_URL
	NATSUser     string // SWARD_NATS_USER; empty on a dev broker that maps anonymous clients
	NATSPassword string // SWARD_NATS_PASSWORD
	InboxPrefix  string // SWARD_INBOX_PREFIX: the component's private reply inbox
	MQTTURL      string // SWARD_MQTT_URL; MQTT credentials are the NATS ones
	Name         string // SWARD_COMPONENT_NAME
	Version      string // SWARD_COMPONENT_VERSION
	ThingName    string // AWS_IOT_THING_NAME
	Region       string // AWS_REGION
	Root         string // SWARD_ROOT
	WorkPath     string // SWARD_WORK_PATH
	// CAFile and TLSServerName verify the nucleus's certificate when its
	// listeners use TLS (SWARD_NATS_CA, SWARD_TLS_SERVER_NAME).
	CAFile, TLSServerName string
}

// Defaults used when a sample runs by hand outside the nucleus: the
// nucleus' own default listeners.
const (
	DefaultNATSURL = "nats://127.0.0.1:4222"
	DefaultMQTTURL = "tcp://127.0.0.1:1883"
)

// FromEnv reads Env from the process environment.
func FromEnv() Env { return EnvFrom(os.Getenv) }

// EnvFrom reads Env through getenv, filling the loopback defaults for the
// broker URLs.
func EnvFrom(getenv func(string) string) Env {
	e := Env{
		NATSURL:       getenv(wire.EnvNATSURL),
		NATSUser:      getenv(wire.EnvNATSUser),
		NATSPassword:  getenv(wire.EnvNATSPassword),
		InboxPrefix:   getenv(wire.EnvInboxPrefix),
		MQTTURL:       getenv(wire.EnvMQTTURL),
		Name:          getenv(wire.EnvComponentName),
		Version:       getenv(wire.EnvComponentVersion),
		ThingName:     getenv(wire.EnvThingName),
		Region:        getenv("AWS_REGION"),
		Root:          getenv(wire.EnvRoot),
		WorkPath:      getenv(wire.EnvWorkPath),
		CAFile:        getenv(wire.EnvNATSCA),
		TLSServerName: getenv(wire.EnvTLSServerName),
	}
	if e.NATSURL == "" {
		e.NATSURL = DefaultNATSURL
	}
	if e.MQTTURL == "" {
		e.MQTTURL = DefaultMQTTURL
	}
	return e
}

// Logger returns a JSON logger writing to w, tagged with the component name
// and version so lines stay attributable when log files are merged.
func (e Env) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil)).With("component", e.Name, "version", e.Version)
}

// Tuning of the NATS connection.
const (
	// reconnectWait is short because the broker is on loopback: it is
	// either back within a second (nucleus restart) or not at all.
	reconnectWait = 500 * time.Millisecond
	// drainTimeout stays well inside the nucleus' default 15 s stop
	// timeout, so a component that cannot drain still exits on its own.
	drainTimeout = 5 * time.Second
)

// NATSOptions returns the options every sample connects with: its
// credentials, its name (visible in the broker's connection list), and
// reconnecting forever, because the nucleus restarting its broker is routine
// and the component should outlive it.
func (e Env) NATSOptions(log *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name(e.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.DrainTimeout(drainTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if e.NATSUser != "" {
		opts = append(opts, nats.UserInfo(e.NATSUser, e.NATSPassword))
	}
	if e.InboxPrefix != "" {
		// The broker lets a component read replies only on its own inbox.
		opts = append(opts, nats.CustomInboxPrefix(e.InboxPrefix))
	}
	if e.CAFile != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.TLSServerName}), nats.RootCAs(e.CAFile))
	}
	return opts
}

// TLSConfig is what an MQTT client verifies the nucleus with: nil when the
// listeners do not use TLS (no CAFile).
func (e Env) TLSConfig() (*tls.Config, error) {
	if e.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, fmt.Errorf("CA bundle %s (SWARD_NATS_CA): %w", e.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s (SWARD_NATS_CA) holds no PEM certificate", e.CAFile)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: e.TLSServerName}, nil
}

// Connect connects to the nucleus' broker with NATSOptions.
func (e Env) Connect(log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(e.NATSURL, e.NATSOptions(log)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", e.NATSURL, err)
	}
	return nc, nil
}

// DrainAndClose lets subscriptions finish the messages they already hold
// and flushes pending publishes, then waits until nc is closed.
func DrainAndClose(nc *nats.Conn, log *slog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
		nc.Close()
		return
	}
	<-closed
}

// ValidToken reports whether s can be one token of a NATS subject and, with
// the same meaning, one level of an MQTT topic: the broker maps MQTT "/" to
// NATS "." and reserves "*", ">", "+", "#" as wildcards, so none of these
// nor whitespace may appear in a sensor id.
func ValidToken(s string) error {
	if s == "" {
		return fmt.Errorf("empty name: a subject token needs at least one character")
	}
	if i := strings.IndexAny(s, ".*>+#/ \t\r\n"); i >= 0 {
		return fmt.Errorf("name %q contains %q: use letters, digits, '-' or '_'", s, s[i])
	}
	return nil
}

// SignalContext returns a context cancelled by SIGTERM (what the nucleus
// sends to stop a component) or SIGINT (Ctrl-C when run by hand).
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// ParseList accepts a JSON array of strings, which is what a recipe's
// {configuration:/list} expands to, or a comma-separated list, which is
// handier by hand. Blank items of a comma-separated list are dropped.
func ParseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var items []string
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return nil, fmt.Errorf("not a JSON array of strings: %w", err)
		}
		return items, nil
	}
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items, nil
}
