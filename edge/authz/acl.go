package authz

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// Service ids of the accessControl section (Greengrass's, plus Sward's
// stream manager, which Greengrass does not authorize at all).
const (
	ServicePubSub          = "aws.greengrass.ipc.pubsub"
	ServiceMQTTProxy       = "aws.greengrass.ipc.mqttproxy"
	ServiceShadowManager   = "aws.greengrass.ShadowManager"
	ServiceSecretManager   = "aws.greengrass.SecretManager"
	ServiceCli             = "aws.greengrass.Cli"
	ServiceLifecycle       = "aws.greengrass.ipc.lifecycle"
	ServiceComponentMetric = "aws.greengrass.ipc.componentmetric"
	ServiceStreamManager   = "sward.StreamManager"
)

// OperationPrefix starts the operation names of Greengrass's accessControl
// policies: "aws.greengrass#PublishToTopic". Policies of Greengrass's services
// may also name the bare operation ("PublishToTopic"), Sward's older form.
const OperationPrefix = "aws.greengrass#"

// opCreateDebugPassword is an operation of a Greengrass service this
// nucleus does not serve yet; its policies are still checked and kept.
const opCreateDebugPassword = "CreateDebugPassword"

// serviceOperations are the service ids a policy may name and the bare
// operations each one's policies may grant, as Greengrass's nucleus
// registers them (AuthorizationHandler); "*" grants all of them. A service
// id missing here is reported (a typo would otherwise silently grant
// nothing) but does not fail a deployment: Greengrass has services this
// nucleus does not know (aws.greengrass.clientdevices.Auth, plugins').
var serviceOperations = map[string][]string{
	ServicePubSub:        {wire.OpPublishToTopic, wire.OpSubscribeToTopic},
	ServiceMQTTProxy:     {wire.OpPublishToIoTCore, wire.OpSubscribeToIoTCore},
	ServiceShadowManager: {wire.OpGetThingShadow, wire.OpUpdateThingShadow, wire.OpDeleteThingShadow, wire.OpListNamedShadowsForThing},
	ServiceSecretManager: {wire.OpGetSecretValue},
	ServiceCli: {wire.OpGetComponentDetails, wire.OpListComponents, wire.OpRestartComponent, wire.OpStopComponent,
		wire.OpCreateLocalDeployment, wire.OpGetLocalDeploymentStatus, wire.OpListLocalDeployments, opCreateDebugPassword},
	ServiceLifecycle:       {wire.OpPauseComponent, wire.OpResumeComponent},
	ServiceComponentMetric: {wire.OpPutComponentMetric},
	ServiceStreamManager:   wire.StreamOperations,
}

// ErrUnknownService marks a policy of a service id this nucleus does not
// know: it is left out and logged, and does not fail a deployment.
var ErrUnknownService = errors.New("unknown accessControl service")

// operationName returns the bare operation a policy of service names with
// op: Greengrass's form "aws.greengrass#Op" or the bare "Op" for Greengrass's
// services, the bare form for Sward's own stream manager; ok is false for
// any other name (names are case-sensitive, as in Greengrass).
func operationName(service, op string) (string, bool) {
	if op == "*" {
		return op, true
	}
	bare := op
	if service != ServiceStreamManager {
		bare = strings.TrimPrefix(op, OperationPrefix)
	}
	return bare, slices.Contains(serviceOperations[service], bare)
}

// operationChoices lists the names a policy of service may use, for errors.
func operationChoices(service string) string {
	prefix := OperationPrefix
	if service == ServiceStreamManager {
		prefix = ""
	}
	var out []string
	for _, op := range serviceOperations[service] {
		out = append(out, prefix+op)
	}
	return strings.Join(append(out, `"*"`), ", ")
}

// ConfigKeyAccessControl is the configuration key holding the policies.
const ConfigKeyAccessControl = "accessControl"

// Policy is one accessControl policy: operations (bare names, or "*") on
// resources.
type Policy struct {
	Service    string
	ID         string
	Operations []string
	Resources  []string
}

// ACL is a component's accessControl: default deny, a policy grants.
type ACL struct {
	Policies []Policy
}

// ParseACL reads the accessControl section of a component's configuration.
// Operation names are kept bare ("aws.greengrass#PublishToTopic" becomes
// "PublishToTopic"). Malformed policies are left out and reported, as are
// unknown operations (the policy keeps its known ones), each error naming
// the component, the policy and the fix; the rest still apply.
func ParseACL(component string, cfg map[string]any) (ACL, []error) {
	var acl ACL
	var errs []error
	raw, ok := cfg[ConfigKeyAccessControl]
	if !ok || raw == nil {
		return acl, nil
	}
	services, ok := raw.(map[string]any)
	if !ok {
		return acl, []error{fmt.Errorf("component %s: accessControl is %T; it must be an object {serviceId: {policyId: {operations, resources}}}", component, raw)}
	}
	for _, svc := range slices.Sorted(maps.Keys(services)) {
		if _, ok := serviceOperations[svc]; !ok {
			errs = append(errs, fmt.Errorf("component %s: accessControl service %q: %w; use one of %s",
				component, svc, ErrUnknownService, strings.Join(slices.Sorted(maps.Keys(serviceOperations)), ", ")))
			continue
		}
		policies, ok := services[svc].(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("component %s: accessControl.%s must be an object of policies {policyId: {operations, resources}}", component, svc))
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(policies)) {
			body, ok := policies[id].(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("component %s: accessControl.%s.%s must be an object with operations and resources", component, svc, id))
				continue
			}
			ops, err1 := stringList(body["operations"])
			res, err2 := stringList(body["resources"])
			if err1 != nil || err2 != nil || len(ops) == 0 {
				errs = append(errs, fmt.Errorf("component %s: accessControl.%s.%s needs operations and resources as lists of strings, e.g. {\"operations\": [\"*\"], \"resources\": [\"*\"]}", component, svc, id))
				continue
			}
			known := make([]string, 0, len(ops))
			for _, op := range ops {
				bare, ok := operationName(svc, op)
				if !ok {
					errs = append(errs, fmt.Errorf("component %s: accessControl policy %q of %s names unknown operation %q; use one of %s (names are case-sensitive)",
						component, id, svc, op, operationChoices(svc)))
					continue
				}
				known = append(known, bare)
			}
			if len(known) > 0 {
				acl.Policies = append(acl.Policies, Policy{Service: svc, ID: id, Operations: known, Resources: res})
			}
		}
	}
	return acl, errs
}

// CheckAccessControl reports what a deployment must refuse in a component's
// accessControl: malformed policies and unknown operations of the services
// this nucleus knows. Policies of unknown services are not refused (see
// serviceOperations); the registry logs them.
func CheckAccessControl(component string, cfg map[string]any) error {
	_, errs := ParseACL(component, cfg)
	errs = slices.DeleteFunc(errs, func(err error) bool { return errors.Is(err, ErrUnknownService) })
	return errors.Join(errs...)
}

// Allows reports whether a policy of service grants op on resource. An
// empty resource is an operation without one (ListComponents): any policy
// granting the operation allows it.
func (a ACL) Allows(service, op, resource string) bool {
	for _, p := range a.Policies {
		if p.Service != service || !p.grants(op) {
			continue
		}
		if resource == "" {
			return true
		}
		topics := service == ServicePubSub || service == ServiceMQTTProxy
		for _, r := range p.Resources {
			if MatchResource(r, resource) || (topics && matchTopicFilter(r, resource)) {
				return true
			}
		}
	}
	return false
}

func (p Policy) grants(op string) bool {
	return slices.Contains(p.Operations, "*") || slices.Contains(p.Operations, op)
}

// resources returns the resources of service's policies granting op.
func (a ACL) resources(service, op string) []string {
	var out []string
	for _, p := range a.Policies {
		if p.Service == service && p.grants(op) {
			out = append(out, p.Resources...)
		}
	}
	return out
}

// MatchResource matches a resource against a policy pattern as Greengrass
// does: "*" matches any run of characters; "${*}", "${?}" and "${$}" stand
// for a literal "*", "?" and "$". It runs in time linear in the inputs
// (literal parts are found left to right; a star only moves the search).
func MatchResource(pattern, resource string) bool {
	var parts []string // literal parts between stars
	var lit strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "${*}"), strings.HasPrefix(pattern[i:], "${?}"), strings.HasPrefix(pattern[i:], "${$}"):
			lit.WriteByte(pattern[i+2])
			i += 3
		case pattern[i] == '*':
			parts = append(parts, lit.String())
			lit.Reset()
		default:
			lit.WriteByte(pattern[i])
		}
	}
	parts = append(parts, lit.String())
	if len(parts) == 1 {
		return parts[0] == resource // no star
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(resource) < len(first)+len(last) || !strings.HasPrefix(resource, first) || !strings.HasSuffix(resource, last) {
		return false
	}
	rest := resource[len(first) : len(resource)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}

// matchTopicFilter matches an MQTT topic, or a subscription's topic
// filter, against a resource filter with "+" (one level) and "#" (the
// rest), as pubsub and mqttproxy resources allow: a requested filter is
// granted only when the resource covers every topic it matches, so a
// requested "#" needs a "#" and a requested "+" a "+" or "#".
func matchTopicFilter(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		switch {
		case l == "#" && i == len(f)-1:
			return true
		case i >= len(t), t[i] == "#":
			return false
		case l != "+" && l != t[i]:
			return false
		}
	}
	return len(f) == len(t)
}

// TopicSubject turns a pubsub topic filter (MQTT style, "+" and "#", or a
// Greengrass "*") into a NATS subject filter. ok is false for a filter NATS
// cannot express exactly or more narrowly (a "*" inside a level, a literal
// "${*}", an empty level): such a grant is left out (narrower, never wider)
// and reported.
func TopicSubject(topic string) (string, bool) {
	if topic == "*" || topic == "#" {
		return ">", true
	}
	if strings.Contains(topic, "${*}") {
		return "", false
	}
	topic = strings.NewReplacer("${?}", "?", "${$}", "$").Replace(topic)
	levels := strings.Split(strings.ReplaceAll(topic, "/", "."), ".")
	for i, l := range levels {
		last := i == len(levels)-1
		switch {
		case l == "":
			return "", false
		case l == "#" && last, l == "*" && last:
			levels[i] = ">" // Greengrass "*" at the end spans levels, like ">"
		case l == "+", l == "*":
			levels[i] = "*" // one level: narrower than Greengrass's "*"
		case strings.ContainsAny(l, "*#+>"):
			return "", false
		}
	}
	return strings.Join(levels, "."), true
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("not a list")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("not a string")
		}
		out = append(out, s)
	}
	return out, nil
}
