package ipc

import (
	"fmt"
	"strings"
)

// Subject layout. A component named N calls operation Op by a NATS request
// on "sward.ipc.N.Op" and receives subscription events on "sward.event.N.Kind".
// Its broker permissions allow exactly one token after its own prefix, so a
// component can never publish as another one, even one whose name its own
// name is a prefix of: com.example may publish sward.ipc.com.example.X but
// not sward.ipc.com.example.Foo.X, which belongs to com.example.Foo.
const (
	IPCRoot   = "sward.ipc"
	EventRoot = "sward.event"
	// InboxRoot prefixes each component's private reply inbox,
	// InboxRoot.<token>, handed over as SWARD_INBOX_PREFIX.
	InboxRoot = "_SWARD_INBOX"
)

// Environment variables every lifecycle step of a component gets.
const (
	EnvNATSURL      = "SWARD_NATS_URL"
	EnvNATSUser     = "SWARD_NATS_USER"
	EnvNATSPassword = "SWARD_NATS_PASSWORD"
	EnvIPCPrefix    = "SWARD_IPC_PREFIX"
	EnvEventPrefix  = "SWARD_EVENT_PREFIX"
	EnvInboxPrefix  = "SWARD_INBOX_PREFIX"
	EnvMQTTURL      = "SWARD_MQTT_URL"
	// EnvNATSCA is set when the listeners use TLS: the CA bundle (PEM) the
	// nucleus's certificate chains to, readable by every component.
	EnvNATSCA = "SWARD_NATS_CA"
	// EnvTLSServerName is set when the certificate does not name the
	// address in SWARD_NATS_URL: the name to verify it under.
	EnvTLSServerName    = "SWARD_TLS_SERVER_NAME"
	EnvComponentName    = "SWARD_COMPONENT_NAME"
	EnvComponentVersion = "SWARD_COMPONENT_VERSION"
	EnvThingName        = "AWS_IOT_THING_NAME"
	// EnvRoot is the nucleus root directory.
	EnvRoot = "SWARD_ROOT"
	// EnvWorkPath is the component's own working directory under the root.
	EnvWorkPath = "SWARD_WORK_PATH"
)

// IPCPrefix is the subject prefix under which component calls operations.
func IPCPrefix(component string) string { return IPCRoot + "." + component }

// EventPrefix is the subject prefix of component's subscription events.
func EventPrefix(component string) string { return EventRoot + "." + component }

// OperationSubject is the subject component publishes op requests on.
func OperationSubject(component, op string) string { return IPCPrefix(component) + "." + op }

// EventSubject is the subject component receives events of kind on.
func EventSubject(component, kind string) string { return EventPrefix(component) + "." + kind }

// ParseOperationSubject splits "sward.ipc.<component>.<op>" into its parts:
// the last token is the operation, the tokens between the root and it are
// the component name.
func ParseOperationSubject(subject string) (component, op string, err error) {
	rest, ok := strings.CutPrefix(subject, IPCRoot+".")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 || i == len(rest)-1 {
		return "", "", fmt.Errorf("subject %q is not %s.<component>.<Operation>", subject, IPCRoot)
	}
	return rest[:i], rest[i+1:], nil
}

// ValidSubjectName reports whether a component name can form subjects: no
// empty tokens (leading, trailing or doubled dots) and no wildcards.
func ValidSubjectName(component string) bool {
	if component == "" || strings.ContainsAny(component, "*> \t\r\n") {
		return false
	}
	for _, tok := range strings.Split(component, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}

// ReplyAllowed reports whether a service may answer on reply: only reply
// inboxes (_INBOX.… of ordinary clients, _SWARD_INBOX.… of components).
// nats-server does not check the reply subject a client names, and the
// nucleus answers with full rights, so answering anywhere else would let a
// client make the nucleus publish on subjects it may not (the JetStream
// API, the control API, another component's IPC).
func ReplyAllowed(reply string) bool {
	if strings.ContainsAny(reply, "*> \t\r\n") {
		return false
	}
	return strings.HasPrefix(reply, "_INBOX.") || strings.HasPrefix(reply, InboxRoot+".")
}
