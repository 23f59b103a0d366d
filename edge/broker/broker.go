package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/internal/errdetail"
)

// readyPoll is how often Ready re-checks the server. Short enough that a
// start failure is reported within a tick, long enough not to spin.
const readyPoll = 25 * time.Millisecond

// state is the broker's lifecycle: created → running → stopped. A stopped
// broker stays stopped; build a new one with New.
type state int

const (
	created state = iota
	running
	stopped
)

// Broker is the embedded nats-server with its NATS, MQTT and JetStream parts.
type Broker struct {
	opts    Options // validated, defaults applied
	log     *slog.Logger
	srvLog  *serverLogger
	srv     *server.Server
	tcp     []listenAddr
	monitor *listenAddr
	natsTLS *tls.Config // built once: a reload with the same pointers keeps TLS untouched
	mqttTLS *tls.Config
	auth    *authenticator
	settle  *settler      // returns idle memory after many clients came or went (memory.go)
	quit    chan struct{} // closed by Shutdown: ends watchStore and settle

	mu       sync.Mutex
	users    map[string]User
	state    state
	natsURL  string
	mqttAddr string
}

// New validates opts, fills defaults and builds the server. It binds no port
// and touches no file other than the TLS files, so it can be used to check a
// configuration.
func New(opts Options) (*Broker, error) {
	opts = opts.withDefaults()
	opts.Users = append([]User(nil), opts.Users...)
	tcp, monitor, err := opts.validate()
	if err != nil {
		return nil, err
	}
	b := &Broker{
		opts:    opts,
		log:     opts.Logger.With("service", "broker"),
		tcp:     tcp,
		monitor: monitor,
		users:   make(map[string]User, len(opts.Users)),
		quit:    make(chan struct{}),
	}
	b.auth = newAuthenticator(newAuthTable(opts.Users, opts.AnonymousUser, opts.TLSMapUsers), b.log)
	b.srvLog = &serverLogger{log: b.log, mqtt: opts.MQTT}
	for _, u := range opts.Users {
		b.users[u.Name] = u
	}
	if opts.TLSCert != "" {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: opts.TLSCert,
			KeyFile:  opts.TLSKey,
			CaFile:   opts.TLSClientCA,
			Verify:   opts.TLSClientCA != "",
		})
		if err != nil {
			return nil, invalidf("broker: load TLS files (TLSCert=%q, TLSKey=%q, TLSClientCA=%q): %v", opts.TLSCert, opts.TLSKey, opts.TLSClientCA, err)
		}
		b.natsTLS, b.mqttTLS = cfg, cfg.Clone()
	}
	srv, err := server.NewServer(b.serverOptions())
	if err != nil {
		return nil, invalidf("broker: configure nats-server: %v", err)
	}
	srv.SetLoggerV2(b.srvLog, opts.Debug, opts.Trace, false)
	b.srv = srv
	b.auth.alive = func(cid uint64) bool { return srv.GetClient(cid) != nil }
	b.settle = &settler{count: srv.NumClients, interval: churnCheckInterval, log: b.log}
	return b, nil
}

// serverOptions builds the nats-server configuration. Users are not in it:
// the authenticator checks every client (see auth.go).
func (b *Broker) serverOptions() *server.Options {
	o := b.opts
	so := &server.Options{
		ServerName: o.ServerName,
		NoSigs:     true, // the nucleus owns signal handling
		Debug:      o.Debug,
		Trace:      o.Trace,

		JetStream:              true,
		StoreDir:               o.StoreDir,
		JetStreamMaxMemory:     o.MaxMemory,
		JetStreamMaxStore:      o.MaxStore,
		SyncAlways:             o.SyncAlways,
		DisableJetStreamBanner: true, // a dozen log lines per start, nothing actionable

		CustomClientAuthentication: b.auth,
	}
	for _, l := range b.tcp {
		switch l.name {
		case "nats":
			so.Host, so.Port = l.host, l.port
		case "mqtt":
			so.MQTT.Host, so.MQTT.Port = l.host, l.port
		}
	}
	if b.monitor != nil {
		so.HTTPHost, so.HTTPPort = b.monitor.host, b.monitor.port
	}
	if b.natsTLS != nil {
		so.TLS = true
		so.TLSVerify = o.TLSClientCA != ""
		so.TLSConfig = b.natsTLS
		so.MQTT.TLSConfig = b.mqttTLS
	}
	return so
}

// Start opens the JetStream store and the listeners, then returns; serving
// happens in the background. Use Ready to wait until clients can connect.
func (b *Broker) Start() error {
	b.mu.Lock()
	if b.state != created {
		b.mu.Unlock()
		return ErrStarted
	}
	// nats-server reports a taken port only as a log line; trying each
	// fixed address first names the listener. A port taken in between is
	// still reported, through the server's fatal log.
	all := b.tcp
	if b.monitor != nil {
		all = append(slices.Clone(all), *b.monitor)
	}
	for _, l := range all {
		if err := l.probe(); err != nil {
			b.mu.Unlock()
			return err
		}
	}
	b.state = running
	b.mu.Unlock()

	b.srv.Start()
	if err := b.srvLog.fatalErr(); err != nil {
		return fmt.Errorf("broker: start: %w", err)
	}
	go b.watchStore()
	go b.settle.run(b.quit)
	return nil
}

// Ready waits up to timeout for the listeners and JetStream, and returns as
// soon as the server reports a start failure (port in use, bad store).
func (b *Broker) Ready(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := b.srvLog.fatalErr(); err != nil {
			return &errdetail.Error{Msg: fmt.Sprintf("broker: not ready: %v", err), Sentinel: ErrNotReady}
		}
		if b.srv.ReadyForConnections(readyPoll) && b.srv.JetStreamEnabled() {
			break
		}
		if time.Now().After(deadline) {
			return &errdetail.Error{
				Msg:      fmt.Sprintf("broker: not ready after %s: was Start called? check the broker log for listener or JetStream errors", timeout),
				Sentinel: ErrNotReady,
			}
		}
	}
	if b.opts.MQTTListen != "" {
		if err := b.boundMQTTStreams(); err != nil {
			return err
		}
	}
	return b.resolveAddrs()
}

// resolveAddrs records the bound addresses, which differ from the options
// when a random port was asked for.
func (b *Broker) resolveAddrs() error {
	var natsURL, mqttAddr string
	for _, l := range b.tcp {
		switch l.name {
		case "nats":
			a, ok := b.srv.Addr().(*net.TCPAddr)
			if !ok {
				return &errdetail.Error{Msg: "broker: nats listener is not bound", Sentinel: ErrNotReady}
			}
			natsURL = "nats://" + net.JoinHostPort(localHost(l.host), strconv.Itoa(a.Port))
		case "mqtt":
			// nats-server exports no MQTT listener address; Varz reports the
			// port it bound.
			v, err := b.srv.Varz(nil)
			if err != nil {
				return fmt.Errorf("broker: read mqtt port: %w", err)
			}
			mqttAddr = net.JoinHostPort(localHost(l.host), strconv.Itoa(v.MQTT.Port))
		}
	}
	b.mu.Lock()
	b.natsURL, b.mqttAddr = natsURL, mqttAddr
	b.mu.Unlock()
	b.log.Info("broker ready", "nats", natsURL, "mqtt", mqttAddr, "store", b.opts.StoreDir)
	return nil
}

// localHost is the host local clients should dial: the configured one, or
// loopback when the listener listens on every address.
func localHost(host string) string {
	switch {
	case host == "":
		return "127.0.0.1"
	case host == "::" || host == "[::]":
		return "::1"
	case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
		return "127.0.0.1"
	}
	return host
}

// NATSURL returns the NATS listener's URL, e.g. "nats://127.0.0.1:4222".
// Empty until Ready has succeeded.
func (b *Broker) NATSURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.natsURL
}

// MQTTAddr returns the MQTT listener's "host:port", e.g. "127.0.0.1:1883".
// Empty when MQTT is disabled or until Ready has succeeded.
func (b *Broker) MQTTAddr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mqttAddr
}

// Server returns the embedded nats-server, for what this package does not
// wrap (monitoring structs, account info). Do not reload its options behind
// the broker's back: SetUsers would undo the change.
func (b *Broker) Server() *server.Server { return b.srv }

// Connect returns an in-process connection authenticated as user, one of
// the configured users; the broker supplies the password. Extra options are
// applied after the broker's own (name, in-process server, credentials).
func (b *Broker) Connect(user string, opts ...nats.Option) (*nats.Conn, error) {
	b.mu.Lock()
	u, ok := b.users[user]
	b.mu.Unlock()
	if !ok {
		return nil, &errdetail.Error{
			Msg:      fmt.Sprintf("broker: connect as %q: no such user: add it to Options.Users or with SetUsers", user),
			Sentinel: ErrUnknownUser,
		}
	}
	all := append([]nats.Option{
		nats.Name(user),
		nats.InProcessServer(b.srv),
		nats.UserInfo(u.Name, u.Password),
	}, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("broker: connect as %q: %w", user, err)
	}
	return nc, nil
}

// SetUsers replaces the users and the anonymous mapping at runtime, without
// restarting the broker. Connections of users that still exist unchanged
// stay up; connections of removed users and of users whose password or
// permissions changed are closed (their clients reconnect under the new
// users), as are anonymous ones when the anonymous mapping goes or changes.
// The same rules as New apply: anonymous must name one of users and is only
// allowed when every listener is on loopback. SetUsers returns ErrNotRunning
// before Start and after Shutdown.
func (b *Broker) SetUsers(users []User, anonymous string) error {
	users = append([]User(nil), users...)
	if err := checkUsers(users, anonymous, b.opts.TLSMapUsers); err != nil {
		return err
	}
	if err := checkExposure(b.tcp, b.natsTLS != nil, anonymous); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != running {
		return &errdetail.Error{
			Msg:      "broker: SetUsers needs a running broker: call it after Start, or pass the users in Options.Users",
			Sentinel: ErrNotRunning,
		}
	}
	closed := b.auth.swap(newAuthTable(users, anonymous, b.opts.TLSMapUsers))
	for _, id := range closed {
		_ = b.srv.DisconnectClientByID(id) // an error: it has just gone by itself
	}
	b.users = make(map[string]User, len(users))
	for _, u := range users {
		b.users[u.Name] = u
	}
	b.log.Info("users changed", "users", len(users), "anonymous", anonymous, "closed", len(closed))
	return nil
}

// Shutdown closes every connection and listener and flushes JetStream.
// It does not wait for background work to end; use WaitForShutdown.
func (b *Broker) Shutdown() {
	b.mu.Lock()
	if b.state == running {
		close(b.quit)
	}
	b.state = stopped
	b.mu.Unlock()
	b.srv.Shutdown()
}

// WaitForShutdown blocks until Shutdown has completed.
func (b *Broker) WaitForShutdown() { b.srv.WaitForShutdown() }
