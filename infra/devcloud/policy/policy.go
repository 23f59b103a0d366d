// Package policy evaluates AWS IoT Core policy documents the way IoT Core
// authorizes an MQTT client: an action on a resource ARN is allowed when a
// statement allows it and none denies it (an explicit Deny wins), with
// policy variables such as ${iot:Connection.Thing.ThingName} substituted
// from the connection, and `*` and `?` as the only wildcards in resources
// (MQTT's `+` and `#` in a policy resource are literal characters, as in
// IoT Core).
//
// What is enforced: Effect, Action (string or list, `iot:*` style
// wildcards), Resource (string or list), and the condition operators
// Bool, StringEquals and StringLike. A document using another condition
// operator, NotAction or NotResource is refused at Parse, naming it.
// A statement whose resource names a variable the connection does not have
// (a client without an attached thing has no Thing.ThingName) does not
// match, as in IoT Core.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Actions an MQTT client is authorized for.
const (
	Connect   = "iot:Connect"
	Publish   = "iot:Publish"
	Subscribe = "iot:Subscribe"
	Receive   = "iot:Receive"
	// AssumeRoleWithCertificate is the credentials provider's action.
	AssumeRoleWithCertificate = "iot:AssumeRoleWithCertificate"
)

// Variables of a connection: the names without ${}.
const (
	VarThingName  = "iot:Connection.Thing.ThingName"
	VarIsAttached = "iot:Connection.Thing.IsAttached"
	VarClientID   = "iot:ClientId"
)

// Identity is what a client certificate stands for.
type Identity struct {
	// ThingName is the thing the certificate is attached to ("" when none).
	ThingName string
	// Policies are the policies attached to the certificate.
	Policies []*Document
}

// Allowed is IoT Core's decision for the identity on a connection with
// clientID ("" outside MQTT): the policy variables of the connection
// substituted, every attached policy evaluated (Evaluate).
func (id Identity) Allowed(clientID, action, resource string) bool {
	vars := map[string]string{VarIsAttached: "false"}
	if clientID != "" {
		vars[VarClientID] = clientID
	}
	if id.ThingName != "" {
		vars[VarThingName] = id.ThingName
		vars[VarIsAttached] = "true"
	}
	return Evaluate(id.Policies, action, resource, vars)
}

// ErrUnsupported is wrapped by Parse for a construct devcloud does not
// evaluate; the message names the construct.
var ErrUnsupported = errors.New("unsupported policy construct")

// Document is a parsed policy.
type Document struct {
	statements []statement
}

type statement struct {
	allow      bool
	actions    []string
	resources  []string
	conditions []condition
}

type condition struct {
	operator string // Bool, StringEquals, StringLike
	key      string
	values   []string
}

// Parse reads a policy document (already free of CloudFormation
// intrinsics).
func Parse(doc []byte) (*Document, error) {
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("policy document: %w", err)
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err2 := json.Unmarshal(raw.Statement, &one); err2 != nil {
			return nil, fmt.Errorf("policy document: Statement is neither a list nor an object: %w", err)
		}
		stmts = []map[string]json.RawMessage{one}
	}
	d := &Document{}
	for i, s := range stmts {
		st, err := parseStatement(s)
		if err != nil {
			return nil, fmt.Errorf("policy statement %d: %w", i, err)
		}
		d.statements = append(d.statements, st)
	}
	return d, nil
}

func parseStatement(s map[string]json.RawMessage) (statement, error) {
	var st statement
	for key := range s {
		switch key {
		case "Effect", "Action", "Resource", "Condition", "Sid":
		default:
			return st, fmt.Errorf("%w: %s", ErrUnsupported, key)
		}
	}
	var effect string
	if err := json.Unmarshal(s["Effect"], &effect); err != nil {
		return st, fmt.Errorf("Effect: %w", err)
	}
	switch effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, fmt.Errorf("Effect %q: want Allow or Deny", effect)
	}
	var err error
	if st.actions, err = stringOrList(s["Action"]); err != nil {
		return st, fmt.Errorf("Action: %w", err)
	}
	if st.resources, err = stringOrList(s["Resource"]); err != nil {
		return st, fmt.Errorf("Resource: %w", err)
	}
	if c, ok := s["Condition"]; ok {
		var ops map[string]map[string]json.RawMessage
		if err := json.Unmarshal(c, &ops); err != nil {
			return st, fmt.Errorf("Condition: %w", err)
		}
		for op, keys := range ops {
			switch op {
			case "Bool", "StringEquals", "StringLike":
			default:
				return st, fmt.Errorf("%w: condition operator %s", ErrUnsupported, op)
			}
			for key, v := range keys {
				values, err := stringOrList(v)
				if err != nil {
					return st, fmt.Errorf("Condition %s %s: %w", op, key, err)
				}
				st.conditions = append(st.conditions, condition{operator: op, key: key, values: values})
			}
		}
	}
	return st, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return list, nil
}

// Allowed reports whether action on resource (an ARN such as
// arn:aws:iot:us-east-1:123456789012:topic/a/b) is allowed for a
// connection with vars by this document alone.
func (d *Document) Allowed(action, resource string, vars map[string]string) bool {
	return Evaluate([]*Document{d}, action, resource, vars)
}

// Evaluate is IoT Core's decision over every policy attached to a
// certificate: allowed when a statement of any of them allows and no
// statement of any of them denies (an explicit Deny wins).
func Evaluate(docs []*Document, action, resource string, vars map[string]string) bool {
	allowed := false
	for _, d := range docs {
		for _, st := range d.statements {
			if !st.matches(action, resource, vars) {
				continue
			}
			if !st.allow {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

func (st statement) matches(action, resource string, vars map[string]string) bool {
	if !anyGlob(st.actions, action, nil) || !anyGlob(st.resources, resource, vars) {
		return false
	}
	for _, c := range st.conditions {
		if !c.holds(vars) {
			return false
		}
	}
	return true
}

func (c condition) holds(vars map[string]string) bool {
	have, ok := vars[c.key]
	if !ok {
		return false
	}
	for _, want := range c.values {
		switch c.operator {
		case "Bool":
			if strings.EqualFold(want, have) {
				return true
			}
		case "StringEquals":
			if s, ok := substitute(want, vars); ok && s == have {
				return true
			}
		case "StringLike":
			if s, ok := substitute(want, vars); ok && globMatch(s, have) {
				return true
			}
		}
	}
	return false
}

func anyGlob(patterns []string, s string, vars map[string]string) bool {
	for _, p := range patterns {
		if vars != nil {
			var ok bool
			if p, ok = substitute(p, vars); !ok {
				continue
			}
		}
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

var variable = regexp.MustCompile(`\$\{([^}]*)\}`)

// substitute replaces the ${…} policy variables of p; ok is false when p
// names a variable vars does not hold.
func substitute(p string, vars map[string]string) (string, bool) {
	ok := true
	out := variable.ReplaceAllStringFunc(p, func(m string) string {
		v, found := vars[m[2:len(m)-1]]
		if !found {
			ok = false
		}
		return v
	})
	return out, ok
}

// globMatch matches IAM-style: `*` any run of characters (`/` included),
// `?` one character, everything else literal.
func globMatch(pattern, s string) bool {
	// path.Match treats '/' as special and '[' and '\\' as syntax; IAM does
	// neither, so translate to a regexp instead.
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	ok, _ := regexp.MatchString(b.String(), s)
	return ok
}
