package nucleus

import (
	"strings"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/ipc/op"
	"github.com/sward-iot/sward/edge/lifecycle"
)

// operations is the IPC operation table: one line per service that owns
// operations (each service's RegisterIPC, in its own package).
func (n *Nucleus) operations() *op.Table {
	t := op.NewTable()
	n.configs.RegisterIPC(t)
	n.events.RegisterIPC(t)
	n.supervisor.RegisterIPC(t, n.configs)
	n.engine.RegisterIPC(t)
	n.shadows.RegisterIPC(t)
	n.streams.RegisterIPC(t)
	n.metrics.RegisterIPC(t)
	n.link.RegisterIPC(t)    // nil without a link: the operations say how to configure one
	n.secrets.RegisterIPC(t) // nil without cloudSecrets: GetSecretValue says how to configure them
	ipc.RegisterServedElsewhere(t)
	return t
}

// setComponentUsers is the registry's way to the broker: the nucleus's own
// users plus the components', in one SetUsers.
func (n *Nucleus) setComponentUsers(users []broker.User) error {
	n.usersMu.Lock()
	defer n.usersMu.Unlock()
	all := append([]broker.User(nil), n.fixedUsers...)
	for _, u := range users {
		u.ClientIDs = authz.MQTTClientIDs(strings.TrimPrefix(u.Name, authz.UserPrefix), n.opts.ThingName)
		all = append(all, u)
	}
	return n.broker.SetUsers(all, n.anonymousUser())
}

// sessionEnded drops what the IPC kept for a component session that ended
// (its subscriptions and its lane): they belonged to its processes.
func (n *Nucleus) sessionEnded(component string) {
	if n.events != nil {
		n.events.Forget(component)
	}
	n.link.Forget(component)
	if n.ipc != nil {
		n.ipc.SessionEnded(component)
	}
}

// sessions hands the supervisor each component session's broker
// credential (lifecycle.Sessions).
type sessions struct{ n *Nucleus }

var _ lifecycle.Sessions = sessions{}

// SessionEnv hands a component session its broker credential (rotated
// after the first session) and drops the previous session's subscriptions.
func (s sessions) SessionEnv(component string, restart bool) map[string]string {
	n := s.n
	n.sessionEnded(component)
	env, ok, err := n.registry.Session(component)
	if err != nil {
		n.log.Error("component credential not rotated", "component", component, "error", err)
	}
	if !ok {
		return nil
	}
	return env
}
