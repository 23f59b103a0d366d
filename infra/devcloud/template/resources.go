package template

import (
	"fmt"
	"sort"
)

// BuildMetadata is the function metadata key naming its build under
// dist/lambdas (the CDK app sets it on each function).
const BuildMetadata = "sward:lambda"

// CloudFormation's defaults for a function without Timeout or MemorySize.
const (
	defaultTimeoutSeconds = 3
	defaultMemoryMB       = 128
)

func (r resolver) bucket(id string) (Bucket, error) {
	name, err := r.physicalName(id)
	if err != nil {
		return Bucket{}, err
	}
	b := Bucket{LogicalID: id, Name: name}
	conf, _ := r.resources[id].Properties["NotificationConfiguration"].(map[string]any)
	if conf == nil {
		return b, nil
	}
	for key := range conf {
		if key != "LambdaConfigurations" {
			return Bucket{}, fmt.Errorf("%w: %s: NotificationConfiguration.%s (devcloud delivers LambdaConfigurations only)", ErrUnsupported, id, key)
		}
	}
	lambdas, _ := conf["LambdaConfigurations"].([]any)
	for _, l := range lambdas {
		v, err := r.resolve(id, l)
		if err != nil {
			return Bucket{}, err
		}
		m, _ := v.(map[string]any)
		n := BucketNotification{}
		n.Event, _ = m["Event"].(string)
		n.FunctionArn, _ = m["Function"].(string)
		if n.Event == "" || n.FunctionArn == "" {
			return Bucket{}, fmt.Errorf("%w: %s: a LambdaConfiguration without Event or Function: %v", ErrUnsupported, id, m)
		}
		filter, _ := m["Filter"].(map[string]any)
		key, _ := filter["S3Key"].(map[string]any)
		rules, _ := key["Rules"].([]any)
		for _, rule := range rules {
			fr, _ := rule.(map[string]any)
			value, _ := fr["Value"].(string)
			switch name, _ := fr["Name"].(string); name {
			case "prefix", "Prefix":
				n.Prefix = value
			case "suffix", "Suffix":
				n.Suffix = value
			default:
				return Bucket{}, fmt.Errorf("%w: %s: notification filter rule %q", ErrUnsupported, id, name)
			}
		}
		b.Notifications = append(b.Notifications, n)
	}
	return b, nil
}

func (r resolver) table(id string) (Table, error) {
	name, err := r.physicalName(id)
	if err != nil {
		return Table{}, err
	}
	p := r.resources[id].Properties
	t := Table{LogicalID: id, Name: name, Attributes: map[string]string{}}
	defs, _ := p["AttributeDefinitions"].([]any)
	for _, d := range defs {
		m, _ := d.(map[string]any)
		n, _ := m["AttributeName"].(string)
		typ, _ := m["AttributeType"].(string)
		t.Attributes[n] = typ
	}
	keys, _ := p["KeySchema"].([]any)
	for _, k := range keys {
		m, _ := k.(map[string]any)
		n, _ := m["AttributeName"].(string)
		switch m["KeyType"] {
		case "HASH":
			t.PartitionKey = n
		case "RANGE":
			t.SortKey = n
		}
	}
	if t.PartitionKey == "" || t.Attributes[t.PartitionKey] == "" || (t.SortKey != "" && t.Attributes[t.SortKey] == "") {
		return Table{}, fmt.Errorf("%w: %s: a KeySchema whose HASH (and RANGE) key is not in AttributeDefinitions", ErrUnsupported, id)
	}
	return t, nil
}

func (r resolver) function(id string) (Function, error) {
	name, err := r.physicalName(id)
	if err != nil {
		return Function{}, err
	}
	res := r.resources[id]
	f := Function{
		LogicalID: id, Name: name, Arn: r.arn("lambda", "function:"+name),
		Environment: map[string]string{}, TimeoutSeconds: defaultTimeoutSeconds, MemoryMB: defaultMemoryMB,
	}
	f.Build, _ = res.Metadata[BuildMetadata].(string)
	f.AssetPath, _ = res.Metadata["aws:asset:path"].(string)
	if v, ok := res.Properties["Timeout"].(float64); ok {
		f.TimeoutSeconds = int(v)
	}
	if v, ok := res.Properties["MemorySize"].(float64); ok {
		f.MemoryMB = int(v)
	}
	f.LogGroup = "/aws/lambda/" + name
	if lc, ok := res.Properties["LoggingConfig"].(map[string]any); ok && lc["LogGroup"] != nil {
		v, err := r.resolve(id, lc["LogGroup"])
		if err != nil {
			return Function{}, err
		}
		if f.LogGroup, ok = v.(string); !ok {
			return Function{}, fmt.Errorf("%w: %s: LoggingConfig.LogGroup %v", ErrUnsupported, id, v)
		}
	}
	env, _ := res.Properties["Environment"].(map[string]any)
	vars, err := r.resolve(id, env["Variables"])
	if err != nil {
		return Function{}, err
	}
	m, _ := vars.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok {
			return Function{}, fmt.Errorf("%w: %s: environment variable %s is %v, not a string", ErrUnsupported, id, k, m[k])
		}
		f.Environment[k] = s
	}
	return f, nil
}
