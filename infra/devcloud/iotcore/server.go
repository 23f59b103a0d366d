package iotcore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/sward-iot/sward/infra/devcloud/policy"
)

// IoT Core's limits that matter to a device
// (https://docs.aws.amazon.com/general/latest/gr/iot-core.html).
const (
	MaxPayloadBytes = 128 * 1024
	MaxTopicBytes   = 256
	MaxTopicSlashes = 7
)

// ALPN is the protocol a client names to speak MQTT on port 443.
const ALPN = "x-amzn-mqtt-ca"

// Options configure a Server.
type Options struct {
	// Listen is the address standing in for port 8883 (127.0.0.1:0 for a
	// free port); ALPNListen the one standing in for 443.
	Listen, ALPNListen string
	// Certificate is the server's certificate; ClientCAs verify clients.
	Certificate tls.Certificate
	ClientCAs   *x509.CertPool
	// Identify maps a verified client certificate to its identity; ok is
	// false for a certificate not registered or not ACTIVE.
	Identify func(cert *x509.Certificate) (policy.Identity, bool)
	// Region and AccountID make the resource ARNs policies are matched on.
	Region, AccountID string
	Logger            *slog.Logger
}

// Server is the data endpoint.
type Server struct {
	opts  Options
	mqtt  *mqtt.Server
	auth  *authorizer
	log   *slog.Logger
	addrs [2]string
	// handlers numbers the inline subscriptions of Handle.
	handlers int
	closed   chan struct{}
}

// New builds a Server; Start listens.
func New(opts Options) (*Server, error) {
	if opts.Identify == nil || opts.ClientCAs == nil {
		return nil, errors.New("iotcore: Identify and ClientCAs are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("service", "iotcore")
	caps := mqtt.NewDefaultServerCapabilities()
	// A PUBLISH carries the topic and the packet id besides the payload.
	caps.MaximumPacketSize = MaxPayloadBytes + MaxTopicBytes + 16
	caps.MaximumQos = 1 // IoT Core does not support QoS 2
	s := &Server{opts: opts, log: log, closed: make(chan struct{})}
	s.mqtt = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		InlineClient:             true,
		Logger:                   log,
		ClientNetWriteBufferSize: 4096,
		ClientNetReadBufferSize:  4096,
	})
	s.auth = &authorizer{s: s}
	if err := s.mqtt.AddHook(s.auth, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) tlsConfig(alpn bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.opts.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.opts.ClientCAs,
	}
	if alpn {
		cfg.NextProtos = []string{ALPN}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.NegotiatedProtocol != ALPN {
				return fmt.Errorf("port 443 speaks MQTT only with ALPN %s", ALPN)
			}
			return nil
		}
	}
	return cfg
}

// Start listens on both addresses and serves in the background.
func (s *Server) Start() error {
	for i, l := range []struct {
		id, addr string
		alpn     bool
	}{{"mqtts", s.opts.Listen, false}, {"mqtts-alpn", s.opts.ALPNListen, true}} {
		addr, err := resolveFree(l.addr)
		if err != nil {
			return fmt.Errorf("iotcore listen %s: %w", l.addr, err)
		}
		tcp := listeners.NewTCP(listeners.Config{ID: l.id, Address: addr, TLSConfig: s.tlsConfig(l.alpn)})
		if err := s.mqtt.AddListener(tcp); err != nil {
			return fmt.Errorf("iotcore listen %s: %w", addr, err)
		}
		s.addrs[i] = tcp.Address()
	}
	return s.mqtt.Serve()
}

// resolveFree turns port 0 into a port that is free now, since mochi's
// listener does not report the port it bound.
func resolveFree(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Addr is the address standing in for 8883; ALPNAddr the one for 443.
func (s *Server) Addr() string     { return s.addrs[0] }
func (s *Server) ALPNAddr() string { return s.addrs[1] }

// Shutdown closes the listeners and every connection.
func (s *Server) Shutdown() error { return s.mqtt.Close() }

// authorizer applies IoT Core's authorization to each client.
type authorizer struct {
	mqtt.HookBase
	s          *Server
	identities sync.Map // *mqtt.Client → session, from CONNECT until disconnect
}

// session is an authorized connection.
type session struct {
	id     policy.Identity
	since  time.Time
	remote string
}

func (a *authorizer) ID() string { return "iot-core-authorizer" }

func (a *authorizer) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSubscribe, mqtt.OnPacketRead, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (a *authorizer) arn(kind, name string) string {
	return "arn:aws:iot:" + a.s.opts.Region + ":" + a.s.opts.AccountID + ":" + kind + "/" + name
}

func (a *authorizer) allowed(id policy.Identity, clientID, action, resource string) bool {
	return id.Allowed(clientID, action, resource)
}

func (a *authorizer) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	conn, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return false
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return false
	}
	id, ok := a.s.opts.Identify(certs[0])
	if !ok {
		a.s.log.Info("connect refused: certificate not registered or not active", "client", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	if !a.allowed(id, cl.ID, policy.Connect, a.arn("client", cl.ID)) {
		a.s.log.Info("connect refused by policy", "client", cl.ID, "thing", id.ThingName)
		return false
	}
	a.identities.Store(cl, session{id: id, since: time.Now(), remote: cl.Net.Remote})
	a.s.log.Info("connected", "client", cl.ID, "thing", id.ThingName)
	return true
}

func (a *authorizer) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	a.identities.Delete(cl)
}

func (a *authorizer) identity(cl *mqtt.Client) (policy.Identity, bool) {
	v, ok := a.identities.Load(cl)
	if !ok {
		return policy.Identity{}, false
	}
	return v.(session).id, true
}

// OnPacketRead checks each PUBLISH before mochi routes it. ErrRejectPacket
// (the only error mochi acts on here) closes the connection, which is what
// IoT Core does with a refused publish.
func (a *authorizer) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	id, ok := a.identity(cl)
	if !ok {
		return pk, packets.ErrRejectPacket
	}
	if err := CheckPublishTopic(pk.TopicName, len(pk.Payload)); err != nil {
		a.s.log.Info("publish refused", "client", cl.ID, "topic", pk.TopicName, "error", err)
		return pk, packets.ErrRejectPacket
	}
	if !a.allowed(id, cl.ID, policy.Publish, a.arn("topic", pk.TopicName)) {
		a.s.log.Info("publish refused by policy", "client", cl.ID, "topic", pk.TopicName)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// refusedFilter marks a filter the policy refuses; mochi answers it with
// the SUBACK failure code because it is not a valid filter.
const refusedFilter = "#/refused-by-policy/"

func (a *authorizer) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline { // devcloud's own services (Handle, Observe): no policy applies
		return pk
	}
	id, _ := a.identity(cl)
	for i, f := range pk.Filters {
		if !a.allowed(id, cl.ID, policy.Subscribe, a.arn("topicfilter", f.Filter)) {
			a.s.log.Info("subscribe refused by policy", "client", cl.ID, "filter", f.Filter)
			pk.Filters[i].Filter = refusedFilter + f.Filter
		}
	}
	return pk
}

// OnACLCheck is mochi's check for publish (write, done in OnPacketRead),
// subscribe (a filter, done in OnSubscribe) and delivery (a topic).
func (a *authorizer) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write || strings.HasPrefix(topic, refusedFilter) {
		return !strings.HasPrefix(topic, refusedFilter)
	}
	if strings.ContainsAny(topic, "+#") {
		return true // a filter OnSubscribe admitted
	}
	id, ok := a.identity(cl)
	if !ok {
		return false
	}
	return a.allowed(id, cl.ID, policy.Receive, a.arn("topic", topic))
}

// CheckPublishTopic applies IoT Core's topic and payload limits to a
// device's PUBLISH.
func CheckPublishTopic(topic string, payloadBytes int) error {
	if payloadBytes > MaxPayloadBytes {
		return fmt.Errorf("payload of %d bytes is over IoT Core's %d", payloadBytes, MaxPayloadBytes)
	}
	if len(topic) > MaxTopicBytes {
		return fmt.Errorf("topic of %d bytes is over IoT Core's %d", len(topic), MaxTopicBytes)
	}
	counted := topic
	if strings.HasPrefix(topic, "$") {
		rest, ok := reservedPublishable(topic)
		if !ok {
			return fmt.Errorf("topic %s is reserved: devices may publish only to $aws/things/<thing>/shadow/…, $aws/things/<thing>/jobs/… and $aws/rules/<rule>/…", topic)
		}
		counted = rest
	}
	if n := strings.Count(counted, "/"); n > MaxTopicSlashes {
		return fmt.Errorf("topic %s has %d slashes, over IoT Core's %d", topic, n, MaxTopicSlashes)
	}
	return nil
}

// reservedPublishable reports whether a device may publish to the reserved
// topic, and the part of it IoT Core counts toward the depth limit.
func reservedPublishable(topic string) (string, bool) {
	if rest, ok := strings.CutPrefix(topic, "$aws/rules/"); ok {
		_, after, found := strings.Cut(rest, "/")
		return after, found && after != ""
	}
	parts := strings.Split(topic, "/")
	if len(parts) >= 5 && parts[0] == "$aws" && parts[1] == "things" && parts[2] != "" && (parts[3] == "shadow" || parts[3] == "jobs") {
		return topic, true
	}
	return "", false
}
