package broker

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/sward-iot/sward/edge/internal/errdetail"
)

const (
	// DefaultNATSListen keeps the NATS listener on loopback: components run on
	// the same device, so nothing needs to reach the bus from outside.
	DefaultNATSListen = "127.0.0.1:4222"

	// DefaultMQTTListen is the usual MQTT port, on loopback for the same
	// reason; listening on the LAN for sensors needs TLS and users.
	DefaultMQTTListen = "127.0.0.1:1883"

	// DefaultServerName names the embedded server when Options.ServerName is
	// empty. nats-server otherwise uses a random id that changes every start;
	// a stable name keeps JetStream and MQTT session state attributable.
	DefaultServerName = "sward"

	// DefaultMaxMemory caps JetStream memory-backed streams at 64 MiB: an
	// eighth of a 512 MB board. nats-server's own default is 75% of RAM,
	// which would let one runaway memory stream starve the components.
	DefaultMaxMemory = 64 << 20

	// DefaultMaxStore caps the JetStream store at 1 GiB: small boards boot
	// from 8-32 GB eMMC/SD cards shared with the OS, artifacts and logs, and
	// a bounded store lets JetStream refuse writes (an error the writer sees)
	// before the disk is full for everyone.
	DefaultMaxStore = 1 << 30
)

// Options configures a Broker. The zero value is not usable: StoreDir is
// required. Start from DefaultOptions to get the MQTT listener.
type Options struct {
	// ServerName is the embedded server's name (MQTT and JetStream need an
	// explicit one). Default DefaultServerName; the nucleus uses the thing name.
	ServerName string

	// StoreDir is the JetStream store folder, e.g. <root>/jetstream. Required:
	// the broker never falls back to a temporary folder, as that would lose
	// durable state silently.
	StoreDir string

	// NATSListen is the NATS listener as "host:port". Empty means
	// DefaultNATSListen. Port 0 or -1 picks a random free port.
	NATSListen string

	// MQTTListen is the MQTT 3.1.1 listener as "host:port". Empty disables
	// MQTT (DefaultOptions sets DefaultMQTTListen). Port 0 or -1 picks a
	// random free port.
	MQTTListen string

	// MonitorListen enables nats-server's HTTP monitoring endpoint (/varz,
	// /connz, /jsz, ...) on "host:port". Empty (the default) starts no HTTP
	// server. It has no authentication, so it must be on loopback.
	MonitorListen string

	// TLSCert and TLSKey are PEM files for the server certificate. When set,
	// every TCP listener (NATS and MQTT) requires TLS; in-process connections
	// never use TLS. Required for any listener that is not on loopback.
	TLSCert string
	TLSKey  string
	// TLSClientCA is a PEM bundle; when set, clients must present a
	// certificate signed by it (mutual TLS) in addition to their password.
	TLSClientCA string
	// TLSMapUsers makes a client's certificate its identity: a client
	// presenting a certificate signed by TLSClientCA, and no username of a
	// password user, is the user whose Name is the certificate's subject
	// DN (RFC 2253, e.g. "CN=sensor-7,O=Example"), an email, DNS or URI
	// SAN. Such a user has an empty Password; nobody logs in as it without
	// the certificate. In-process connections have no certificate and log
	// in with passwords. Requires TLSClientCA.
	TLSMapUsers bool

	// Users may connect over NATS (user/password) and MQTT
	// (username/password). A login name is the username up to its last "?"
	// (LoginName: the AWS IoT Device SDKs append their metrics there), so
	// names contain no "?". An empty list means nobody can connect except
	// anonymous clients mapped through AnonymousUser.
	Users []User

	// AnonymousUser names one of Users; clients that present no credentials
	// (NATS or MQTT; a username that is only a "?…" metrics query counts as
	// none) get that user's permissions. Empty refuses them. Only allowed
	// when every listener is on loopback.
	AnonymousUser string

	// MaxMemory caps JetStream memory storage in bytes. Zero means
	// DefaultMaxMemory.
	MaxMemory int64

	// MaxStore caps JetStream file storage in bytes. Zero means
	// DefaultMaxStore.
	MaxStore int64

	// MQTT bounds the streams nats-server keeps for MQTT (retained
	// messages, sessions, pending QoS 1/2 messages). Zero fields take the
	// defaults; see MQTTLimits. They are put on the streams at Ready.
	MQTT MQTTLimits

	// SyncAlways makes JetStream fsync every message before acknowledging it.
	// Off by default, which keeps nats-server's default of an fsync every two
	// minutes: acknowledged writes then survive kill -9 of the nucleus (they
	// are in the page cache) but not a power loss within that window. On,
	// appends drop to the disk's fsync rate (about 2-3k/s on eMMC).
	SyncAlways bool

	// Debug and Trace turn on nats-server's debug and protocol trace logs.
	// Both are off by default: trace logs every protocol line.
	Debug bool
	Trace bool

	// Logger receives the broker's logs and nats-server's, with
	// service=broker. Default slog.Default().
	Logger *slog.Logger
}

// User is a client identity known to the broker, for NATS and MQTT alike.
type User struct {
	Name        string
	Password    string
	Permissions Permissions
	// ClientIDs are the MQTT client ids reserved to this user: an id R
	// reserves R and every R-<suffix> (the longest reservation wins when
	// several cover an id). Any other user, anonymous clients included,
	// connecting with one is refused (CONNACK "not authorized"), so nobody
	// can take over the user's session by reusing its client id.
	ClientIDs []string
}

// Permissions restricts the subjects a user may publish and subscribe to,
// in NATS subject syntax (wildcards * and >). An empty allow list allows
// everything; deny wins over allow. MQTT clients are checked against the
// NATS form of their topics (see README.md).
type Permissions struct {
	PublishAllow   []string
	PublishDeny    []string
	SubscribeAllow []string
	SubscribeDeny  []string
	// AllowResponses lets the user publish one reply to the reply subject of
	// each request it received, within two minutes (nats-server's
	// allow_responses defaults), whatever its publish allow list says: a
	// component can then answer requests without rights on the caller's inbox.
	// With it, an empty PublishAllow means "replies only", not "everything"
	// (nats-server's rule): list ">" to allow every subject.
	AllowResponses bool
}

// DefaultOptions returns Options with both listeners on their default
// loopback addresses and default JetStream limits. StoreDir is left empty for
// the caller.
func DefaultOptions() Options {
	return Options{
		ServerName: DefaultServerName,
		NATSListen: DefaultNATSListen,
		MQTTListen: DefaultMQTTListen,
		MaxMemory:  DefaultMaxMemory,
		MaxStore:   DefaultMaxStore,
	}
}

// listenAddr is a parsed "host:port" option.
type listenAddr struct {
	name     string // "nats", "mqtt", "monitor": used in error messages
	raw      string
	host     string
	port     int // -1 means random
	loopback bool
}

func parseListen(name, field, raw string) (listenAddr, error) {
	host, portStr, err := net.SplitHostPort(raw)
	if err != nil {
		return listenAddr{}, invalidf("broker: %s %q is not host:port: %v (e.g. %q)", field, raw, err, "127.0.0.1:-1")
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return listenAddr{}, invalidf("broker: %s %q has a bad port: use 1-65535, or 0 or -1 for a random port", field, raw)
	}
	if port == 0 {
		port = -1 // nats-server reads 0 as "default port" (NATS) or "disabled" (MQTT)
	}
	return listenAddr{name: name, raw: raw, host: host, port: port, loopback: isLoopback(host)}, nil
}

// isLoopback reports whether host only accepts connections from this
// machine. An empty host and the unspecified addresses listen everywhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults returns o with empty fields filled in.
func (o Options) withDefaults() Options {
	if o.ServerName == "" {
		o.ServerName = DefaultServerName
	}
	if o.NATSListen == "" {
		o.NATSListen = DefaultNATSListen
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.MaxStore == 0 {
		o.MaxStore = DefaultMaxStore
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.MQTT = o.MQTT.withDefaults()
	return o
}

// probe binds l's address and lets it go at once, to tell a taken port
// (ListenError) before nats-server tries it. A random port needs no probe.
func (l listenAddr) probe() error {
	if l.port <= 0 {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(l.host, strconv.Itoa(l.port)))
	if err != nil {
		return &ListenError{Listener: l.name, Addr: l.raw, Err: err}
	}
	return ln.Close()
}

// listeners parses the listen options; the monitor is returned separately
// because the TLS rule does not apply to it (it must be on loopback).
func (o Options) listeners() (tcp []listenAddr, monitor *listenAddr, err error) {
	n, err := parseListen("nats", "NATSListen", o.NATSListen)
	if err != nil {
		return nil, nil, err
	}
	tcp = append(tcp, n)
	if o.MQTTListen != "" {
		m, err := parseListen("mqtt", "MQTTListen", o.MQTTListen)
		if err != nil {
			return nil, nil, err
		}
		tcp = append(tcp, m)
	}
	if o.MonitorListen != "" {
		m, err := parseListen("monitor", "MonitorListen", o.MonitorListen)
		if err != nil {
			return nil, nil, err
		}
		if !m.loopback {
			return nil, nil, &errdetail.Error{
				Msg:      fmt.Sprintf("broker: monitor listener %s is not on loopback: the monitoring endpoint has no authentication, listen on 127.0.0.1", m.raw),
				Sentinel: ErrInsecureListener,
			}
		}
		monitor = &m
	}
	return tcp, monitor, nil
}

// validate checks o (defaults already applied) and returns the parsed
// listeners.
func (o Options) validate() (tcp []listenAddr, monitor *listenAddr, err error) {
	if o.StoreDir == "" {
		return nil, nil, invalidf("broker: StoreDir is empty: set it to the JetStream folder (e.g. <root>/jetstream)")
	}
	if strings.ContainsAny(o.ServerName, " \t\r\n") {
		return nil, nil, invalidf("broker: ServerName %q contains whitespace: use a name without spaces", o.ServerName)
	}
	if o.MaxMemory < 0 || o.MaxStore < 0 {
		return nil, nil, invalidf("broker: MaxMemory (%d) and MaxStore (%d) must not be negative: use 0 for the defaults", o.MaxMemory, o.MaxStore)
	}
	if err := o.MQTT.check(); err != nil {
		return nil, nil, err
	}
	if o.MQTTListen != "" && o.MQTT.Reserved() > o.MaxStore/2 {
		return nil, nil, invalidf("broker: the MQTT limits reserve %d bytes, over half of MaxStore (%d): lower them so that the nucleus's own state and the stream manager keep room", o.MQTT.Reserved(), o.MaxStore)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, nil, invalidf("broker: TLSCert and TLSKey must be set together (TLSCert=%q, TLSKey=%q)", o.TLSCert, o.TLSKey)
	}
	if o.TLSClientCA != "" && o.TLSCert == "" {
		return nil, nil, invalidf("broker: TLSClientCA is set without TLSCert and TLSKey: mutual TLS needs a server certificate")
	}
	if o.TLSMapUsers && o.TLSClientCA == "" {
		return nil, nil, invalidf("broker: TLSMapUsers needs TLSClientCA: certificates can only name users when the broker verifies them")
	}
	tcp, monitor, err = o.listeners()
	if err != nil {
		return nil, nil, err
	}
	if err := checkUsers(o.Users, o.AnonymousUser, o.TLSMapUsers); err != nil {
		return nil, nil, err
	}
	if err := checkExposure(tcp, o.TLSCert != "", o.AnonymousUser); err != nil {
		return nil, nil, err
	}
	return tcp, monitor, nil
}

// checkExposure enforces the security rule: a listener reachable from other
// machines needs TLS and must not let anyone in without credentials.
func checkExposure(tcp []listenAddr, hasTLS bool, anonymous string) error {
	for _, l := range tcp {
		if l.loopback {
			continue
		}
		var fix []string
		if !hasTLS {
			fix = append(fix, "set TLSCert and TLSKey")
		}
		if anonymous != "" {
			fix = append(fix, fmt.Sprintf("disable anonymous access (AnonymousUser is %q)", anonymous))
		}
		if len(fix) == 0 {
			continue
		}
		return &errdetail.Error{
			Msg:      fmt.Sprintf("broker: %s listener %s is not on loopback: %s (or listen on 127.0.0.1)", l.name, l.raw, strings.Join(fix, " and ")),
			Sentinel: ErrInsecureListener,
		}
	}
	return nil
}

// checkUsers validates the user list and the anonymous mapping.
// checkUsers validates users; certUsers (TLSMapUsers) allows users without
// a password, who can then log in only with their certificate.
func checkUsers(users []User, anonymous string, certUsers bool) error {
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		switch {
		case u.Name == "":
			return invalidf("broker: Users[%d] has no Name: every user needs one", i)
		case strings.ContainsAny(u.Name, " \t\r\n"):
			return invalidf("broker: user %q contains whitespace: use a name without spaces", u.Name)
		case strings.Contains(u.Name, "?"):
			return invalidf("broker: user name %q contains \"?\": a login name ends before its last \"?\" (where the AWS IoT Device SDKs put their metrics), so nobody could log in as it; pick a name without one", u.Name)
		case u.Name == AnonymousIdentity || u.Name == internalUser:
			return invalidf("broker: user name %q is reserved (anonymous clients, the broker itself): pick another name", u.Name)
		case seen[u.Name]:
			return invalidf("broker: user %q is listed twice: keep one entry", u.Name)
		case u.Password == "" && !certUsers:
			return invalidf("broker: user %q has no Password: set one (Connect supplies it for in-process clients), or turn on TLSMapUsers for a certificate user", u.Name)
		}
		seen[u.Name] = true
		if err := u.Permissions.check(u.Name); err != nil {
			return err
		}
	}
	if anonymous != "" && !seen[anonymous] {
		return &errdetail.Error{
			Msg:      fmt.Sprintf("broker: AnonymousUser %q is not in Users: add that user or clear AnonymousUser", anonymous),
			Sentinel: ErrUnknownUser,
		}
	}
	return nil
}

func (p Permissions) check(user string) error {
	for field, list := range map[string][]string{
		"PublishAllow": p.PublishAllow, "PublishDeny": p.PublishDeny,
		"SubscribeAllow": p.SubscribeAllow, "SubscribeDeny": p.SubscribeDeny,
	} {
		for _, s := range list {
			if s == "" || strings.ContainsAny(s, " \t\r\n") {
				return invalidf("broker: user %q has a bad subject %q in Permissions.%s: use a NATS subject without spaces", user, s, field)
			}
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return &errdetail.Error{Msg: fmt.Sprintf(format, args...), Sentinel: ErrInvalidOptions}
}

// IsLoopbackAddr reports whether a "host:port" listen address accepts
// connections only from this machine. Callers use it to decide whether
// anonymous access may be offered at all.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopback(host)
}
