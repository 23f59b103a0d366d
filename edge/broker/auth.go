package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// AnonymousIdentity is the user name unauthenticated clients are given (it
// shows up in monitoring and in nats-server's logs). It is reserved: no
// configured user may take it, and nobody can log in with it.
const AnonymousIdentity = "$anonymous"

// internalUser is the broker's own in-process login (it bounds the MQTT
// streams at start). Its password is random per start and never leaves the
// process; the name is reserved like AnonymousIdentity.
const internalUser = "$broker"

// authenticator decides who a NATS or MQTT client is; it is nats-server's
// CustomClientAuthentication. nats-server looks a username up as sent, and
// the AWS IoT Device SDKs send their metrics in the MQTT username (see
// LoginName): the authenticator looks up the login name instead, and maps a
// client that sends no name (only metrics) and no password to the anonymous
// user.
//
// nats-server's config reload cannot be used with it (a reload closes every
// connection whose username is not in nats-server's own user list, which an
// authenticator leaves empty), so SetUsers swaps the table here and closes
// the connections whose user was removed or changed (password or
// permissions); their clients reconnect under the new table. The
// authenticator therefore remembers which user each connection logged in
// as.
type authenticator struct {
	// alive reports whether a connection id is still open (the server's
	// GetClient); dead ids are forgotten when the list has doubled.
	alive func(cid uint64) bool
	// internal is the broker's own user (internalUser), outside the tables
	// SetUsers swaps.
	internal *server.User
	log      *slog.Logger

	mu      sync.Mutex
	table   *authTable
	clients map[uint64]*server.User // connection id → the user it logged in as
	pruneAt int                     // len(clients) at which dead ids are next forgotten
}

// minPrune is the connection count under which dead connection ids are not
// looked for: a few hundred entries cost nothing, and SetUsers forgets them
// anyway.
const minPrune = 1024

func newAuthenticator(t *authTable, log *slog.Logger) *authenticator {
	pw := make([]byte, 24)
	_, _ = rand.Read(pw) // never fails (crypto/rand)
	return &authenticator{
		table:    t,
		internal: &server.User{Username: internalUser, Password: hex.EncodeToString(pw)},
		log:      log,
		clients:  map[uint64]*server.User{},
		pruneAt:  minPrune,
	}
}

// authTable is one generation of the broker's users.
type authTable struct {
	users map[string]*server.User // by name; certificate users have no password
	// anonymous carries AnonymousUser's permissions; nil refuses
	// unauthenticated clients.
	anonymous *server.User
	// certs makes a client's verified certificate name its user
	// (TLSMapUsers).
	certs bool
	// clientIDs maps each reserved MQTT client id to the user owning it
	// (User.ClientIDs).
	clientIDs map[string]string
}

func newAuthTable(users []User, anonymous string, certs bool) *authTable {
	t := &authTable{users: make(map[string]*server.User, len(users)), certs: certs, clientIDs: map[string]string{}}
	for _, u := range users {
		su := &server.User{Username: u.Name, Password: u.Password, Permissions: u.Permissions.server()}
		t.users[u.Name] = su
		for _, id := range u.ClientIDs {
			t.clientIDs[id] = u.Name
		}
		if u.Name == anonymous {
			t.anonymous = &server.User{Username: AnonymousIdentity, Permissions: su.Permissions}
		}
	}
	return t
}

// Check implements server.Authentication. In order: a password user named
// by the login name; the certificate user a verified client certificate
// names (TLSMapUsers); the anonymous user, for a client without a name and
// without a password.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false // routes, gateways and leaf nodes are never enabled
	}
	if opts := c.GetOpts(); opts.Username == internalUser {
		ok := subtle.ConstantTimeCompare([]byte(opts.Password), []byte(a.internal.Password)) == 1
		if ok {
			c.RegisterUser(a.internal)
		}
		return ok
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.table.login(c)
	if u == nil {
		return false
	}
	if cid, ok := mqttClientID(c); ok {
		if owner := a.table.clientIDOwner(cid); owner != "" && owner != u.Username {
			a.log.Warn("mqtt client refused: its client id is reserved to another identity",
				"client_id", cid, "user", u.Username, "owner", owner, "remote", remoteAddr(c))
			return false
		}
	}
	c.RegisterUser(u) // also sets the connection's username to u's, for logs and monitoring
	a.clients[c.GetID()] = u
	if len(a.clients) >= a.pruneAt && a.alive != nil {
		for id := range a.clients {
			if !a.alive(id) {
				delete(a.clients, id)
			}
		}
		a.pruneAt = max(minPrune, 2*len(a.clients))
	}
	return true
}

func (t *authTable) login(c server.ClientAuthentication) *server.User {
	opts := c.GetOpts()
	name := LoginName(opts.Username)
	if u, ok := t.users[name]; ok && u.Password != "" {
		if subtle.ConstantTimeCompare([]byte(opts.Password), []byte(u.Password)) != 1 {
			return nil
		}
		return u
	}
	if t.certs {
		if u := t.certificateUser(c); u != nil {
			return u
		}
	}
	noCredentials := opts.Password == "" && opts.Token == "" && opts.Nkey == "" && opts.JWT == ""
	if name == "" && noCredentials {
		return t.anonymous
	}
	return nil
}

// clientIDOwner returns the user an MQTT client id is reserved to, or "".
// A reserved id R covers R itself and every id R-<anything>; when several
// cover cid, the longest wins (so "a" does not cover "a-b"'s ids).
func (t *authTable) clientIDOwner(cid string) string {
	best, owner := -1, ""
	for id, user := range t.clientIDs {
		if (cid == id || strings.HasPrefix(cid, id+"-")) && len(id) > best {
			best, owner = len(id), user
		}
	}
	return owner
}

// mqttClientID returns the client id of an MQTT client; ok is false for a
// NATS client. nats-server's ClientAuthentication does not expose the MQTT
// client id, but it has parsed it into the client (c.mqtt.cid) before it
// asks the authenticator: it is read there by reflection, without
// changing anything. TestMQTTClientIDsAreReservedToTheirUser fails
// if a nats-server upgrade moves it.
func mqttClientID(c server.ClientAuthentication) (string, bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", false
	}
	m := v.Elem().FieldByName("mqtt")
	if !m.IsValid() || m.Kind() != reflect.Pointer || m.IsNil() {
		return "", false
	}
	cid := m.Elem().FieldByName("cid")
	if !cid.IsValid() || cid.Kind() != reflect.String {
		return "", false
	}
	return cid.String(), true
}

func remoteAddr(c server.ClientAuthentication) string {
	if a := c.RemoteAddress(); a != nil {
		return a.String()
	}
	return ""
}

// swap installs t and returns the connections to close: those whose user t
// removes or changes. They are forgotten, as are closed ones.
func (a *authenticator) swap(t *authTable) (closeIDs []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.table = t
	for id, old := range a.clients {
		if a.alive != nil && !a.alive(id) {
			delete(a.clients, id)
			continue
		}
		cur := t.users[old.Username]
		if old.Username == AnonymousIdentity {
			cur = t.anonymous
		}
		if cur == nil || cur.Password != old.Password || !reflect.DeepEqual(cur.Permissions, old.Permissions) {
			closeIDs = append(closeIDs, id)
			delete(a.clients, id)
		}
	}
	a.pruneAt = max(minPrune, 2*len(a.clients))
	return closeIDs
}

// certificateUser returns the user without a password that the client's
// verified certificate names, by email, DNS or URI SAN or by its subject DN
// in RFC 2253 form ("CN=sensor-7,O=Example"), or nil.
func (t *authTable) certificateUser(c server.ClientAuthentication) *server.User {
	st := c.GetTLSConnectionState()
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return nil
	}
	for _, name := range certificateNames(st.PeerCertificates[0]) {
		if u, ok := t.users[name]; ok && u.Password == "" {
			return u
		}
	}
	return nil
}

func certificateNames(cert *x509.Certificate) []string {
	names := append([]string(nil), cert.EmailAddresses...)
	names = append(names, cert.DNSNames...)
	for _, u := range cert.URIs {
		names = append(names, u.String())
	}
	return append(names, cert.Subject.ToRDNSequence().String())
}

// server converts p; nil means "everything allowed".
func (p Permissions) server() *server.Permissions {
	pubAllow := p.PublishAllow
	if !p.AllowResponses {
		// With responses allowed, no publish allow list means "replies
		// only" (below), so there ">" must stay.
		pubAllow = withoutAllowAll(pubAllow)
	}
	pub := subjectPermission(pubAllow, p.PublishDeny)
	sub := subjectPermission(withoutAllowAll(p.SubscribeAllow), p.SubscribeDeny)
	if pub == nil && sub == nil && !p.AllowResponses {
		return nil
	}
	if p.AllowResponses && (pub == nil || pub.Allow == nil) {
		// nats-server's allow_responses rule, which it applies to the users
		// of its options but not to those an authenticator registers: no
		// publish allow list is "replies only".
		if pub == nil {
			pub = &server.SubjectPermission{}
		}
		pub.Allow = []string{}
	}
	sp := &server.Permissions{Publish: pub, Subscribe: sub}
	if p.AllowResponses {
		sp.Response = &server.ResponsePermission{MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
	}
	return sp
}

// withoutAllowAll returns nil for an allow list holding ">", which allows
// everything, as no list does. nats-server builds a subject tree per
// connection for every list a user has (setPermissions), so each list left
// out saves every connection of the user about 1 KB.
func withoutAllowAll(allow []string) []string {
	if slices.Contains(allow, ">") {
		return nil
	}
	return allow
}

func subjectPermission(allow, deny []string) *server.SubjectPermission {
	if len(allow) == 0 && len(deny) == 0 {
		return nil
	}
	// nats-server reads a non-nil empty Allow as "allow nothing", so keep
	// empty lists nil.
	sp := &server.SubjectPermission{}
	if len(allow) > 0 {
		sp.Allow = append([]string(nil), allow...)
	}
	if len(deny) > 0 {
		sp.Deny = append([]string(nil), deny...)
	}
	return sp
}

// LoginName is the user a client's username names: the username up to its
// last "?". The AWS IoT Device SDKs append their metrics there
// ("sensor-7?SDK=IoTDeviceSDK/JS&Platform=Linux&…", or "?SDK=…" alone when
// the application sets no username), and AWS IoT Core cuts them off the same
// way.
func LoginName(username string) string {
	if i := strings.LastIndexByte(username, '?'); i >= 0 {
		return username[:i]
	}
	return username
}
