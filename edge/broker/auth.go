package broker

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// AnonymousIdentity is the nats-server user that unauthenticated clients are
// mapped to (it shows up as their user name in monitoring). It is reserved:
// no configured user may take it.
//
// Why a stand-in instead of pointing nats-server's no_auth_user at the
// configured user directly: nats-server cannot change no_auth_user on config
// reload, so SetUsers could never switch the anonymous mapping. The stand-in
// is always configured as no_auth_user; SetUsers changes what it is allowed
// to do instead:
//   - AnonymousUser set: it carries that user's permissions.
//   - AnonymousUser empty: it may only connect as a leaf node, and leaf
//     nodes are never enabled here, so every unauthenticated client is
//     refused (and existing ones are disconnected on reload).
const AnonymousIdentity = "$anonymous"

// serverUsers converts the configured users into nats-server users, plus the
// anonymous stand-in. anonPassword is random and never leaves the process,
// so nobody can log in as the stand-in explicitly.
func serverUsers(users []User, anonymous, anonPassword string) []*server.User {
	out := make([]*server.User, 0, len(users)+1)
	stand := &server.User{Username: AnonymousIdentity, Password: anonPassword}
	for _, u := range users {
		out = append(out, &server.User{Username: u.Name, Password: u.Password, Permissions: u.Permissions.server()})
		if u.Name == anonymous {
			stand.Permissions = u.Permissions.server()
		}
	}
	if anonymous == "" {
		stand.Permissions = &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Deny: []string{">"}},
		}
		stand.AllowedConnectionTypes = map[string]struct{}{jwt.ConnectionTypeLeafnode: {}}
	}
	return append(out, stand)
}

// server converts p; nil means "everything allowed".
func (p Permissions) server() *server.Permissions {
	pub := subjectPermission(p.PublishAllow, p.PublishDeny)
	sub := subjectPermission(p.SubscribeAllow, p.SubscribeDeny)
	if pub == nil && sub == nil && !p.AllowResponses {
		return nil
	}
	sp := &server.Permissions{Publish: pub, Subscribe: sub}
	if p.AllowResponses {
		sp.Response = &server.ResponsePermission{MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
	}
	return sp
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

func randomPassword() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
