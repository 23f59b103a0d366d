package authz

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/sward-iot/sward/edge/broker"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// UserPrefix starts every component's broker user name ("component:<name>"),
// keeping component users apart from the nucleus's own.
const UserPrefix = "component:"

// reservedDeny are subjects no component may reach, even with a pubsub grant
// of every topic: NucleusSubjects and the shadow topics (reached through
// ShadowManager grants or the IPC). Only components holding a wildcard grant need them: the allow lists of
// the others never reach these subjects.
var reservedDeny = append(slices.Clip(NucleusSubjects), "$aws.>")

// NucleusSubjects are the subjects only the nucleus and its admin use:
// JetStream and KV APIs, the system account, the nucleus's inboxes and
// control API, nats-server's MQTT bookkeeping, Sward's internal root, the
// component and cloud link state events. The client-device permissions
// deny them too.
var NucleusSubjects = []string{
	"$JS.>", "$JSC.>", "$KV.>", "$O.>", "$SYS.>", "$SWARD.>", "_INBOX.>",
	"$MQTT.JSA.>", "$MQTT.msgs.>", "$MQTT.rmsgs.>", "$MQTT.sess.>",
	"sward.control.>", "sward.component.>", "sward.shadow.>", "sward.cloud.>",
}

// Identity is one component's broker credential for its current session.
type Identity struct {
	Component string
	User      string
	Password  string
	// Inbox is the component's private reply prefix (SWARD_INBOX_PREFIX).
	Inbox string
	// used: a session has started with this credential; the next session
	// gets a new one.
	used bool
}

// MQTTClientIDs are the MQTT client ids reserved to component's broker
// user (broker.User.ClientIDs): its name with the characters nats-server
// refuses in client ids ('.', ' ', '*', '>') replaced by '-', alone or after
// "<thing>-"; each also covers every id it starts followed by "-"
// ("<thing>-com-example-Sensor-1"). Nobody else, anonymous clients
// included, can connect with them.
func MQTTClientIDs(component, thing string) []string {
	clean := strings.NewReplacer(".", "-", " ", "-", "*", "-", ">", "-")
	name := clean.Replace(component)
	return []string{name, clean.Replace(thing) + "-" + name}
}

// Env is the credential part of the component's environment.
func (id *Identity) Env() map[string]string {
	return map[string]string{
		wire.EnvNATSUser:     id.User,
		wire.EnvNATSPassword: id.Password,
		wire.EnvInboxPrefix:  id.Inbox,
		wire.EnvIPCPrefix:    wire.IPCPrefix(id.Component),
		wire.EnvEventPrefix:  wire.EventPrefix(id.Component),
	}
}

// Registry holds the identities and ACLs of the deployed components and
// pushes them to the broker (through SetUsers: clients of unchanged users
// stay connected).
type Registry struct {
	setUsers func([]broker.User) error
	log      *slog.Logger

	mu   sync.Mutex
	ids  map[string]*Identity
	acls map[string]ACL
	// removed is told the names of components that left the deployed set
	// (the IPC server drops what it keeps for them); set by OnRemoved.
	removed func(name string)
}

// NewRegistry returns an empty registry; setUsers receives the component
// users on every change (the caller adds its own users and calls SetUsers).
func NewRegistry(setUsers func([]broker.User) error, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.Default()
	}
	return &Registry{setUsers: setUsers, log: log.With("service", "ipc"), ids: map[string]*Identity{}, acls: map[string]ACL{}}
}

// Set makes components (name → configuration) the deployed set: new ones
// get a credential, removed ones lose theirs (their connections close), and
// every ACL is read again from its configuration. One broker user change.
func (r *Registry) Set(configs map[string]map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.ids {
		if _, ok := configs[name]; !ok {
			delete(r.ids, name)
			delete(r.acls, name)
			r.log.Info("component credential revoked", "component", name)
			if r.removed != nil {
				r.removed(name)
			}
		}
	}
	for name, cfg := range configs {
		if !wire.ValidSubjectName(name) {
			r.log.Warn("component name cannot form IPC subjects; it gets no broker identity", "component", name)
			continue
		}
		acl, errs := ParseACL(name, cfg)
		for _, err := range errs {
			r.log.Warn("accessControl entry not applied", "component", name, "error", err)
		}
		r.acls[name] = acl
		if _, ok := r.ids[name]; !ok {
			r.ids[name] = newIdentity(name)
		}
	}
	return r.pushLocked()
}

// Session returns the credential a new session of component starts with:
// the one Set made, the first time; a fresh one (one broker user change, the
// old one's connections close) after that. ok is false for a component
// without an identity.
func (r *Registry) Session(component string) (env map[string]string, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[component]
	if !ok {
		return nil, false, nil
	}
	if id.used {
		old := id
		id = newIdentity(component)
		r.ids[component] = id
		if err := r.pushLocked(); err != nil {
			r.ids[component] = old // the broker still has the old one
			return nil, true, err
		}
		r.log.Info("component credential rotated", "component", component)
	}
	id.used = true
	return id.Env(), true, nil
}

// ACL returns the component's access control (empty: deny all).
func (r *Registry) ACL(component string) ACL {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acls[component]
}

// Allows reports whether component's accessControl grants op of service on
// resource (see ACL.Allows).
func (r *Registry) Allows(component, service, op, resource string) bool {
	return r.ACL(component).Allows(service, op, resource)
}

// OnRemoved makes removed be told the name of each component that leaves
// the deployed set (the IPC server drops what it keeps for it).
func (r *Registry) OnRemoved(removed func(component string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = removed
}

// OwnsReply reports whether reply is under component's current inbox.
func (r *Registry) OwnsReply(component, reply string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[component]
	return ok && strings.HasPrefix(reply, id.Inbox+".") && !strings.ContainsAny(reply, "*> ")
}

// Known reports whether component is deployed with an identity.
func (r *Registry) Known(component string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[component]
	return ok
}

func (r *Registry) pushLocked() error {
	users := make([]broker.User, 0, len(r.ids))
	for _, name := range slices.Sorted(maps.Keys(r.ids)) {
		id := r.ids[name]
		perms, dropped := r.permissionsLocked(name)
		for _, d := range dropped {
			r.log.Warn("pubsub resource cannot be expressed as a NATS subject; not granted", "component", name, "resource", d)
		}
		users = append(users, broker.User{Name: id.User, Password: id.Password, Permissions: perms})
	}
	return r.setUsers(users)
}

// permissionsLocked translates a component's ACL into broker permissions:
// its own IPC, event and inbox subjects, pubsub topics, and shadow topics.
func (r *Registry) permissionsLocked(name string) (broker.Permissions, []string) {
	id, acl := r.ids[name], r.acls[name]
	p := broker.Permissions{
		PublishAllow:   []string{wire.IPCPrefix(name) + ".*"},
		SubscribeAllow: []string{wire.EventPrefix(name) + ".*", id.Inbox + ".>"},
		// No AllowResponses: nats-server lets a response permission
		// override deny lists, and a component can make itself the
		// receiver of a message with any reply subject (publish on a
		// topic it also subscribes to), which would open every subject.
	}
	var dropped []string
	var grants []string // the pubsub subjects granted, to know what to deny
	add := func(list *[]string, topic string) {
		s, ok := TopicSubject(topic)
		if !ok {
			dropped = append(dropped, topic)
			return
		}
		grants = append(grants, s)
		*list = append(*list, s)
	}
	for _, t := range acl.resources(ServicePubSub, wire.OpPublishToTopic) {
		add(&p.PublishAllow, t)
	}
	for _, t := range acl.resources(ServicePubSub, wire.OpSubscribeToTopic) {
		add(&p.SubscribeAllow, t)
	}
	shadowGrants := false
	for _, op := range []struct{ name, verb string }{
		{wire.OpGetThingShadow, "get"}, {wire.OpUpdateThingShadow, "update"}, {wire.OpDeleteThingShadow, "delete"},
	} {
		for _, res := range acl.resources(ServiceShadowManager, op.name) {
			for _, base := range shadowSubjects(res) {
				shadowGrants = true
				p.PublishAllow = append(p.PublishAllow, base+"."+op.verb)
				p.SubscribeAllow = append(p.SubscribeAllow, base+"."+op.verb+".>")
			}
		}
	}
	// A pubsub grant may reach subjects the component must never touch:
	// deny those it overlaps (deny wins over allow in nats-server). A
	// grant of every topic next to shadow grants keeps $aws reachable (the
	// shadow grants would be denied too otherwise): it then reaches every
	// shadow, and the nucleus says so in its log.
	candidates := append([]string(nil), reservedDeny...)
	for other, oid := range r.ids {
		if other != name {
			candidates = append(candidates, wire.IPCPrefix(other)+".*", wire.EventPrefix(other)+".*", oid.Inbox+".>")
		}
	}
	var deny []string
	for _, d := range candidates {
		if !overlapsAny(d, grants) {
			continue
		}
		if d == "$aws.>" && shadowGrants {
			r.log.Warn("component has a pubsub grant covering $aws topics and shadow grants: it can reach every shadow topic", "component", name)
			continue
		}
		deny = append(deny, d)
	}
	if len(deny) > 0 {
		p.PublishDeny, p.SubscribeDeny = deny, deny
	}
	return p, dropped
}

// overlapsAny reports whether some subject matches both filter and one of
// filters.
func overlapsAny(filter string, filters []string) bool {
	for _, f := range filters {
		if overlaps(filter, f) {
			return true
		}
	}
	return false
}

// overlaps reports whether some subject matches both NATS filters a and b.
func overlaps(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i < len(at) && at[i] == ">":
			return i < len(bt) // ">" matches one or more tokens
		case i < len(bt) && bt[i] == ">":
			return i < len(at)
		case i == len(at) || i == len(bt):
			return len(at) == len(bt)
		case at[i] != bt[i] && at[i] != "*" && bt[i] != "*":
			return false
		}
	}
}

// shadowSubjects turns a ShadowManager resource ("$aws/things/T/shadow",
// ".../shadow/name/N", "*") into the NATS subject bases of those shadows.
func shadowSubjects(resource string) []string {
	if resource == "*" {
		return []string{"$aws.things.*.shadow", "$aws.things.*.shadow.name.*"}
	}
	parts := strings.Split(resource, "/")
	ok := len(parts) >= 4 && parts[0] == "$aws" && parts[1] == "things" && parts[3] == "shadow" &&
		(len(parts) == 4 || (len(parts) == 6 && parts[4] == "name"))
	if !ok {
		return nil
	}
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, ".>") || (strings.Contains(p, "*") && p != "*") {
			return nil
		}
		parts[i] = p
	}
	return []string{strings.Join(parts, ".")}
}

func newIdentity(component string) *Identity {
	return &Identity{
		Component: component,
		User:      UserPrefix + component,
		Password:  randomHex(16),
		Inbox:     fmt.Sprintf("%s.%s", wire.InboxRoot, randomHex(8)),
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}
