package devconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Where things are in the file.
const (
	// NucleusService is Greengrass's nucleus under services.
	NucleusService = "aws.greengrass.Nucleus"
	// NucleusPath is the nucleus configuration's path, for messages.
	NucleusPath = "services." + NucleusService + ".configuration"
	// SecretManagerService is Greengrass's secret manager under services,
	// whose configuration (cloudSecrets) Sward's nucleus reads too.
	SecretManagerService = "aws.greengrass.SecretManager"
	// SwardSection is the top-level key of Sward's own settings.
	SwardSection = "sward"
)

// maxFileBytes bounds the file: a real one is a few KB, and a bound keeps
// a wrong path (a log, a disk image) from being read whole.
const maxFileBytes = 1 << 20

// ErrInvalid is wrapped by every *Error.
var ErrInvalid = errors.New("invalid device configuration")

// Error is a problem in the file that stops it being used: Path is the key
// ("services.aws.greengrass.Nucleus.configuration.mqtt.port"), Line its
// line (0 when unknown).
type Error struct {
	File string
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config file")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Warning is a key Sward does not know, or knows but does not use.
type Warning struct {
	Path string
	Line int
	Msg  string
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", w.Line, w.Path, w.Msg)
	}
	return w.Path + ": " + w.Msg
}

// ignoredNucleusKeys are Greengrass nucleus keys with no meaning in Sward:
// accepted without a warning so a Greengrass file reads cleanly, and
// dropped.
var ignoredNucleusKeys = map[string]bool{
	"jvmOptions": true, "fipsMode": true, "greengrassDataPlaneEndpoint": true,
	"iotCredentialEndpoint": true, "s3EndpointType": true, "telemetry": true,
	"fleetstatus": true, "httpClient": true, "deploymentConfigurationTimeSource": true,
}

// ignoredServiceKeys are the keys of a services entry other than
// configuration, as Greengrass's effective configuration has them.
var ignoredServiceKeys = map[string]bool{
	"componentType": true, "dependencies": true, "lifecycle": true, "version": true,
}

// Load reads and parses the file at path; relative paths in it are relative
// to its folder.
func Load(path string) (*File, []Warning, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("config file %s does not exist: give the path of a device configuration file (`sward provision --out DIR` writes DIR/config.yaml)", path)
		}
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	defer fh.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(fh, maxFileBytes+1)); err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if buf.Len() > maxFileBytes {
		return nil, nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes: is this the device configuration file?", maxFileBytes)}
	}
	f, warnings, err := Parse(path, buf.Bytes())
	if err != nil {
		return nil, warnings, err
	}
	if abs, err := filepath.Abs(filepath.Dir(path)); err == nil {
		f.Dir = abs
	}
	return f, warnings, nil
}

// Parse reads a device configuration file; name is used in messages. An
// empty file is an empty configuration.
func Parse(name string, data []byte) (*File, []Warning, error) {
	d := &decoder{file: name, lines: map[string]int{}}
	f := &File{lines: d.lines}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ") + "; fix the YAML syntax"}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return f, nil, nil
	}
	top := resolve(doc.Content[0])
	if isNull(top) {
		return f, nil, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, nil, d.typeErr("", top, "a mapping with system, services and sward")
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], resolve(top.Content[i+1])
		switch k.Value {
		case "system":
			d.value("system", v, reflect.ValueOf(&f.System).Elem())
		case "services":
			d.services(f, v)
		case SwardSection:
			d.sward(f, v)
		default:
			d.warn(k.Value, k.Line, "unknown key: Sward reads system, services and sward")
		}
		if d.err != nil {
			return nil, d.warnings, d.err
		}
	}
	return f, d.warnings, nil
}

type decoder struct {
	file     string
	lines    map[string]int
	warnings []Warning
	err      error
}

func (d *decoder) warn(path string, line int, msg string) {
	d.warnings = append(d.warnings, Warning{Path: path, Line: line, Msg: msg})
}

func (d *decoder) typeErr(path string, n *yaml.Node, want string) *Error {
	got := "a " + kindName(n)
	if n.Kind == yaml.ScalarNode {
		got = strconv.Quote(n.Value)
	}
	return &Error{File: d.file, Path: path, Line: n.Line, Msg: fmt.Sprintf("expected %s, got %s", want, got)}
}

func (d *decoder) fail(err *Error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) services(f *File, n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(d.typeErr("services", n, "a mapping of component names"))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		path := "services." + k.Value
		var conf reflect.Value
		switch k.Value {
		case NucleusService:
			conf = reflect.ValueOf(&f.Nucleus).Elem()
		case BridgeService:
			conf = reflect.ValueOf(&f.Bridge).Elem()
		case SecretManagerService:
			conf = reflect.ValueOf(&f.SecretManager).Elem()
		case ShadowManagerService:
			conf = reflect.ValueOf(&f.ShadowManager).Elem()
		default:
			d.warn(path, k.Line, "not read: Sward takes a component's configuration from its deployment, not from this file ("+NucleusService+", "+BridgeService+", "+SecretManagerService+" and "+ShadowManagerService+" excepted)")
			continue
		}
		if isNull(v) {
			continue
		}
		if v.Kind != yaml.MappingNode {
			d.fail(d.typeErr(path, v, "a mapping with configuration"))
			return
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			sk, sv := v.Content[j], resolve(v.Content[j+1])
			switch {
			case sk.Value == "configuration":
				d.value(path+".configuration", sv, conf)
			case sk.Value == "version" && k.Value != NucleusService:
			case sk.Value == "version":
				d.value(path+".version", sv, reflect.ValueOf(&f.NucleusVersion).Elem())
			case ignoredServiceKeys[sk.Value]:
			default:
				d.warn(path+"."+sk.Value, sk.Line, "unknown key: a service entry has componentType, version and configuration")
			}
		}
	}
}

func (d *decoder) sward(f *File, n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(d.typeErr(SwardSection, n, "a mapping of `sward run` flag names to values"))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		s := Setting{Name: k.Value, Line: k.Line}
		if v.Kind != yaml.ScalarNode {
			d.fail(d.typeErr(s.Path(), v, "a single value (what the flag --"+k.Value+" takes)"))
			return
		}
		if !isNull(v) {
			s.Value = v.Value
		}
		f.Sward = append(f.Sward, s)
	}
}

// value decodes n into v, a field of the model, by v's type.
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	if d.err != nil || isNull(n) {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(d.typeErr(path, n, "a mapping"))
			return
		}
		fields := map[string]int{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = i
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, sub := n.Content[i], resolve(n.Content[i+1])
			idx, ok := fields[k.Value]
			switch {
			case ok:
				d.lines[path+"."+k.Value] = k.Line
				d.value(path+"."+k.Value, sub, v.Field(idx))
			case path == NucleusPath && ignoredNucleusKeys[k.Value]:
			default:
				d.warn(path+"."+k.Value, k.Line, "unknown key, ignored: "+knownKeys(fields))
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(path, n, v.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(d.typeErr(path, n, "a list"))
			return
		}
		sl := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(fmt.Sprintf("%s[%d]", path, i), resolve(item), sl.Index(i))
		}
		v.Set(sl)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(d.typeErr(path, n, "a mapping of names to values"))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, sub := n.Content[i], resolve(n.Content[i+1])
			if elem := v.Type().Elem(); elem.Kind() == reflect.Struct {
				d.lines[path+"."+k.Value] = k.Line
				e := reflect.New(elem).Elem()
				d.value(path+"."+k.Value, sub, e)
				m.SetMapIndex(reflect.ValueOf(k.Value), e)
				continue
			}
			if sub.Kind != yaml.ScalarNode {
				d.fail(d.typeErr(path+"."+k.Value, sub, "a single value"))
				return
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(sub.Value))
		}
		v.Set(m)
	default:
		d.scalar(path, n, v)
	}
}

// scalar decodes a string, bool or number. Like Greengrass, which coerces,
// it takes a quoted number or boolean ("8883", "true") for one.
func (d *decoder) scalar(path string, n *yaml.Node, v reflect.Value) {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Bool: "true or false",
		reflect.Int: "an integer", reflect.Int64: "an integer", reflect.Float64: "a number",
	}[v.Kind()]
	if n.Kind != yaml.ScalarNode {
		d.fail(d.typeErr(path, n, want))
		return
	}
	text := strings.ReplaceAll(n.Value, "_", "")
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		switch strings.ToLower(n.Value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(d.typeErr(path, n, want))
		}
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(text, 10, v.Type().Bits())
		if err != nil {
			// 2.62144e+06 is an integer too, as YAML writers sometimes put it.
			f, ferr := strconv.ParseFloat(text, 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				d.fail(d.typeErr(path, n, want))
				return
			}
			i = int64(f)
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.fail(d.typeErr(path, n, want))
			return
		}
		v.SetFloat(f)
	default:
		panic("devconfig: no decoder for " + v.Type().String())
	}
}

func knownKeys(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	return "known here: " + strings.Join(names, ", ")
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value"
	}
}
