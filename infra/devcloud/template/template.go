// Package template reads the CloudFormation template `make synth` writes
// (cdk.out/SwardCloud.template.json) for what devcloud serves: the IoT
// policies, thing groups, role aliases and topic rules, the S3 buckets
// (with their Lambda notifications), the DynamoDB tables and the Lambda
// functions, with the CloudFormation intrinsics they use resolved for
// devcloud's region and account.
//
// Resolved: Ref to the pseudo parameters (AWS::Partition, AWS::Region,
// AWS::AccountId, AWS::URLSuffix, AWS::StackName) and to the resources
// above, IAM roles and log groups (their physical name), Fn::Join, Fn::Sub
// with pseudo parameters, resources and ${Resource.Attribute}, and
// Fn::GetAtt of a role alias's RoleAliasArn and the Arn of a thing group,
// an IoT policy, an IAM role, a bucket, a table, a function or a log
// group. Anything else inside those resources is an error naming the
// resource and the construct.
//
// Physical names are the name property when the template gives one, as
// CloudFormation does; otherwise a stable name made from the stack name
// and the logical id (CloudFormation appends a random suffix instead;
// devcloud's must stay the same across restarts so that data in moto is
// found again).
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
	// Actions are the rule's actions as the template writes them, one
	// key (Lambda, Republish, S3, DynamoDBv2, CloudwatchLogs, …) each,
	// intrinsics resolved; ErrorAction is nil when the rule has none.
	Actions     []map[string]any
	ErrorAction map[string]any
}

// Bucket is an AWS::S3::Bucket.
type Bucket struct {
	LogicalID string
	Name      string
	// Notifications are its NotificationConfiguration's
	// LambdaConfigurations.
	Notifications []BucketNotification
}

// BucketNotification is one S3 → Lambda notification.
type BucketNotification struct {
	// Event is the S3 event type, e.g. s3:ObjectCreated:*.
	Event string
	// Prefix and Suffix are the key filter's rules ("" when absent).
	Prefix, Suffix string
	// FunctionArn is the function invoked.
	FunctionArn string
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID string
	Name      string
	// PartitionKey and SortKey name the key attributes (SortKey "" when
	// the table has none); Attributes maps each defined attribute to its
	// type (S, N, B).
	PartitionKey, SortKey string
	Attributes            map[string]string
}

// Function is an AWS::Lambda::Function.
type Function struct {
	LogicalID string
	Name      string
	Arn       string
	// Build is the function's build under dist/lambdas (the
	// sward:lambda metadata the CDK app sets, "" when absent); AssetPath
	// is the CDK's aws:asset:path metadata (a folder of cdk.out).
	Build, AssetPath string
	// Environment is Environment.Variables, resolved.
	Environment map[string]string
	// TimeoutSeconds (default 3) and MemoryMB (default 128) are
	// CloudFormation's defaults when absent.
	TimeoutSeconds, MemoryMB int
	// LogGroup is LoggingConfig.LogGroup, or Lambda's default
	// /aws/lambda/<name>.
	LogGroup string
}

// Template is what devcloud takes from a template.
type Template struct {
	Rules       []TopicRule
	Policies    []Policy
	ThingGroups []string
	RoleAliases []RoleAlias
	Buckets     []Bucket
	Tables      []Table
	Functions   []Function
	// LogGroups are the names of the AWS::Logs::LogGroup resources.
	LogGroups []string
	// Outputs are the stack outputs whose value resolves to a string here
	// (the IoT names, pseudo parameters); the others (Lambda and bucket
	// attributes) are left out.
	Outputs map[string]string
}

// Function returns the function whose ARN or name is ref.
func (t *Template) Function(ref string) (Function, bool) {
	for _, f := range t.Functions {
		if f.Arn == ref || f.Name == ref {
			return f, true
		}
	}
	return Function{}, false
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
	Metadata   map[string]any
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
			actions, _ := payload["Actions"].([]any)
			for _, a := range actions {
				resolved, err := r.resolve(id, a)
				if err != nil {
					return nil, err
				}
				m, ok := resolved.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%w: %s: an action that is not an object: %v", ErrUnsupported, id, a)
				}
				rule.Actions = append(rule.Actions, m)
			}
			if a, ok := payload["ErrorAction"]; ok {
				resolved, err := r.resolve(id, a)
				if err != nil {
					return nil, err
				}
				if rule.ErrorAction, ok = resolved.(map[string]any); !ok {
					return nil, fmt.Errorf("%w: %s: an ErrorAction that is not an object: %v", ErrUnsupported, id, a)
				}
			}
			t.Rules = append(t.Rules, rule)
		case "AWS::S3::Bucket":
			b, err := r.bucket(id)
			if err != nil {
				return nil, err
			}
			t.Buckets = append(t.Buckets, b)
		case "AWS::DynamoDB::Table":
			tb, err := r.table(id)
			if err != nil {
				return nil, err
			}
			t.Tables = append(t.Tables, tb)
		case "AWS::Logs::LogGroup":
			name, err := r.physicalName(id)
			if err != nil {
				return nil, err
			}
			t.LogGroups = append(t.LogGroups, name)
		case "AWS::Lambda::Function":
			f, err := r.function(id)
			if err != nil {
				return nil, err
			}
			t.Functions = append(t.Functions, f)
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

// nameProperty is the property that holds a resource's name.
var nameProperty = map[string]string{
	"AWS::IoT::Policy":      "PolicyName",
	"AWS::IoT::ThingGroup":  "ThingGroupName",
	"AWS::IoT::RoleAlias":   "RoleAlias",
	"AWS::IoT::TopicRule":   "RuleName",
	"AWS::IAM::Role":        "RoleName",
	"AWS::S3::Bucket":       "BucketName",
	"AWS::DynamoDB::Table":  "TableName",
	"AWS::Lambda::Function": "FunctionName",
	"AWS::Logs::LogGroup":   "LogGroupName",
}

// name is the physical name of resource id: its name property (resolved),
// else one made from the logical id (see the package comment).
func (r resolver) name(id string) string {
	n, _ := r.physicalName(id)
	return n
}

func (r resolver) physicalName(id string) (string, error) {
	res := r.resources[id]
	if prop, ok := res.Properties[nameProperty[res.Type]]; ok {
		v, err := r.resolve(id, prop)
		if err != nil {
			return "", err
		}
		if n, ok := v.(string); ok && n != "" {
			return n, nil
		}
	}
	switch res.Type {
	case "AWS::S3::Bucket": // lower case, at most 63 characters
		return truncate(strings.ToLower(r.env.StackName+"-"+id), 63), nil
	case "AWS::Lambda::Function":
		return truncate(r.env.StackName+"-"+id, 64), nil
	case "AWS::DynamoDB::Table", "AWS::Logs::LogGroup":
		return r.env.StackName + "-" + id, nil
	}
	// IoT resources and roles: the logical id (the credentials provider's
	// sessions and the tests name roles by it).
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
			return r.physicalName(name)
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
			if res, attr, ok := strings.Cut(name, "."); ok {
				v, aerr := r.intrinsic(owner, "Fn::GetAtt", []any{res, attr})
				if s, isString := v.(string); aerr == nil && isString {
					return s
				}
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
		case t == "AWS::S3::Bucket" && attr == "Arn":
			return "arn:aws:s3:::" + r.name(id), nil
		case t == "AWS::DynamoDB::Table" && attr == "Arn":
			return r.arn("dynamodb", "table/"+r.name(id)), nil
		case t == "AWS::Lambda::Function" && attr == "Arn":
			return r.arn("lambda", "function:"+r.name(id)), nil
		case t == "AWS::Logs::LogGroup" && attr == "Arn":
			return r.arn("logs", "log-group:"+r.name(id)+":*"), nil
		}
	}
	return nil, unsupported
}
