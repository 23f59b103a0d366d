// Package template reads the CloudFormation template `make synth` writes
// (cdk.out/SwardCloud.template.json) for what devcloud serves: the IoT
// policies, thing groups and role aliases, with the CloudFormation
// intrinsics they use resolved for devcloud's region and account.
//
// Resolved: Ref to the pseudo parameters (AWS::Partition, AWS::Region,
// AWS::AccountId, AWS::URLSuffix, AWS::StackName) and to IoT resources
// that carry their own name, Fn::Join, Fn::Sub with pseudo parameters, and
// Fn::GetAtt of a role alias's RoleAliasArn and the Arn of a thing group,
// an IoT policy or an IAM role.
// Anything else inside those resources is an error naming the resource and
// the construct.
package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// ErrUnsupported is wrapped for a template construct devcloud cannot
// resolve; the message names the resource and the construct.
var ErrUnsupported = errors.New("unsupported template construct")

// Policy is an AWS::IoT::Policy.
type Policy struct {
	// LogicalID is the resource's id in the template.
	LogicalID string
	Name      string
	// Document is the policy document, intrinsics resolved.
	Document json.RawMessage
}

// RoleAlias is an AWS::IoT::RoleAlias.
type RoleAlias struct {
	LogicalID string
	Name      string
	// RoleArn is the role the credentials provider assumes for a device.
	RoleArn                   string
	CredentialDurationSeconds int
}

// TopicRule is an AWS::IoT::TopicRule.
type TopicRule struct {
	LogicalID  string
	Name       string
	SQL        string
	SQLVersion string
	Disabled   bool
}

// Template is what devcloud takes from a template.
type Template struct {
	Rules       []TopicRule
	Policies    []Policy
	ThingGroups []string
	RoleAliases []RoleAlias
	// Outputs are the stack outputs whose value resolves to a string here
	// (the IoT names, pseudo parameters); the others (Lambda and bucket
	// attributes) are left out.
	Outputs map[string]string
}

// Env is where the template is resolved.
type Env struct {
	Region    string
	AccountID string
	StackName string
}

type resource struct {
	Type       string
	Properties map[string]any
}

// Load reads and resolves the template at path.
func Load(path string, env Env) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w (run `make synth` to write cdk.out/SwardCloud.template.json)", err)
	}
	t, err := Parse(b, env)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", path, err)
	}
	return t, nil
}

// Parse resolves a template's text.
func Parse(b []byte, env Env) (*Template, error) {
	var raw struct {
		Resources map[string]resource
		Outputs   map[string]struct{ Value any }
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	r := resolver{env: env, resources: raw.Resources}
	ids := make([]string, 0, len(raw.Resources))
	for id := range raw.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	t := &Template{}
	for _, id := range ids {
		res := raw.Resources[id]
		switch res.Type {
		case "AWS::IoT::Policy":
			name, _ := res.Properties["PolicyName"].(string)
			if name == "" {
				name = id
			}
			doc, err := r.resolve(id, res.Properties["PolicyDocument"])
			if err != nil {
				return nil, err
			}
			text, err := json.Marshal(doc)
			if err != nil {
				return nil, err
			}
			t.Policies = append(t.Policies, Policy{LogicalID: id, Name: name, Document: text})
		case "AWS::IoT::TopicRule":
			payload, _ := res.Properties["TopicRulePayload"].(map[string]any)
			rule := TopicRule{LogicalID: id, Name: id}
			if n, ok := res.Properties["RuleName"].(string); ok {
				rule.Name = n
			}
			rule.SQL, _ = payload["Sql"].(string)
			rule.SQLVersion, _ = payload["AwsIotSqlVersion"].(string)
			rule.Disabled, _ = payload["RuleDisabled"].(bool)
			t.Rules = append(t.Rules, rule)
		case "AWS::IoT::ThingGroup":
			t.ThingGroups = append(t.ThingGroups, r.name(id))
		case "AWS::IoT::RoleAlias":
			secs := 3600 // CloudFormation's default
			if v, ok := res.Properties["CredentialDurationSeconds"].(float64); ok {
				secs = int(v)
			}
			roleArn, err := r.resolve(id, res.Properties["RoleArn"])
			if err != nil {
				return nil, err
			}
			arn, ok := roleArn.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s: RoleArn %v", ErrUnsupported, id, roleArn)
			}
			t.RoleAliases = append(t.RoleAliases, RoleAlias{LogicalID: id, Name: r.name(id), RoleArn: arn, CredentialDurationSeconds: secs})
		}
	}
	t.Outputs = map[string]string{}
	for key, o := range raw.Outputs {
		if v, err := r.resolve("Outputs."+key, o.Value); err == nil {
			if s, ok := v.(string); ok {
				t.Outputs[key] = s
			}
		}
	}
	return t, nil
}

// Policy returns the policy named name.
func (t *Template) Policy(name string) (Policy, bool) {
	for _, p := range t.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

type resolver struct {
	env       Env
	resources map[string]resource
}

// nameProperty is the property that holds an IoT resource's name.
var nameProperty = map[string]string{
	"AWS::IoT::Policy":     "PolicyName",
	"AWS::IoT::ThingGroup": "ThingGroupName",
	"AWS::IoT::RoleAlias":  "RoleAlias",
}

// name is the physical name of resource id: its name property, else its
// logical id (what CloudFormation would generate differs, but devcloud
// only needs a stable name).
func (r resolver) name(id string) string {
	res := r.resources[id]
	if n, ok := res.Properties[nameProperty[res.Type]].(string); ok && n != "" {
		return n
	}
	return id
}

func (r resolver) pseudo(name string) (string, bool) {
	switch name {
	case "AWS::Partition":
		return "aws", true
	case "AWS::Region":
		return r.env.Region, true
	case "AWS::AccountId":
		return r.env.AccountID, true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::StackName":
		return r.env.StackName, true
	}
	return "", false
}

func (r resolver) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + r.env.Region + ":" + r.env.AccountID + ":" + resource
}

func (r resolver) resolve(owner string, v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = r.resolve(owner, e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(owner, k, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = r.resolve(owner, e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

var subVariable = regexp.MustCompile(`\$\{([^}!]*)\}`)

func (r resolver) intrinsic(owner, fn string, arg any) (any, error) {
	unsupported := fmt.Errorf("%w: %s: %s %v", ErrUnsupported, owner, fn, arg)
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		if v, ok := r.pseudo(name); ok {
			return v, nil
		}
		if res, ok := r.resources[name]; ok && nameProperty[res.Type] != "" {
			return r.name(name), nil
		}
		return nil, unsupported
	case "Fn::Join":
		parts, ok := arg.([]any)
		if !ok || len(parts) != 2 {
			return nil, unsupported
		}
		sep, _ := parts[0].(string)
		list, err := r.resolve(owner, parts[1])
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, unsupported
		}
		strs := make([]string, len(items))
		for i, it := range items {
			if strs[i], ok = it.(string); !ok {
				return nil, unsupported
			}
		}
		return strings.Join(strs, sep), nil
	case "Fn::Sub":
		s, ok := arg.(string)
		if !ok {
			return nil, unsupported
		}
		var err error
		out := subVariable.ReplaceAllStringFunc(s, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := r.pseudo(name); ok {
				return v
			}
			if _, ok := r.resources[name]; ok {
				return r.name(name)
			}
			err = unsupported
			return m
		})
		// ${!Literal} is CloudFormation's escape for a literal ${Literal}.
		return strings.ReplaceAll(out, "${!", "${"), err
	case "Fn::GetAtt":
		ref, ok := arg.([]any)
		if !ok || len(ref) != 2 {
			return nil, unsupported
		}
		id, _ := ref[0].(string)
		attr, _ := ref[1].(string)
		switch t := r.resources[id].Type; {
		case t == "AWS::IoT::RoleAlias" && attr == "RoleAliasArn":
			return r.arn("iot", "rolealias/"+r.name(id)), nil
		case t == "AWS::IoT::ThingGroup" && attr == "Arn":
			return r.arn("iot", "thinggroup/"+r.name(id)), nil
		case t == "AWS::IoT::Policy" && attr == "Arn":
			return r.arn("iot", "policy/"+r.name(id)), nil
		case t == "AWS::IAM::Role" && attr == "Arn":
			// CloudFormation generates a name from the logical id when
			// RoleName is absent; the logical id is devcloud's stand-in.
			name, _ := r.resources[id].Properties["RoleName"].(string)
			if name == "" {
				name = id
			}
			return "arn:aws:iam::" + r.env.AccountID + ":role/" + name, nil
		}
	}
	return nil, unsupported
}
