package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Options say what Decode accepts.
type Options struct {
	// Name names the input in messages, such as "the telemetry batch".
	Name string
	// MaxSize is the largest input in bytes; larger input is refused
	// unread. Zero means no limit.
	MaxSize int
	// FormatVersion, when positive, is the only top-level formatVersion
	// accepted; the field is then required.
	FormatVersion int
}

// Decode parses data and assigns it to v, a non-nil pointer to a struct,
// map or slice. Every problem is returned, joined, each a *FieldError.
// v may be partly filled when Decode returns an error.
func Decode(data []byte, v any, o Options) error {
	name := o.Name
	if name == "" {
		name = "the document"
	}
	if o.MaxSize > 0 && len(data) > o.MaxSize {
		return &FieldError{
			Msg: fmt.Sprintf("%s is %d bytes, over the %d-byte limit; send less in one document", name, len(data), o.MaxSize),
			Err: ErrTooLarge,
		}
	}
	tree, err := Parse(data, "", name)
	if err != nil {
		return err
	}
	if o.FormatVersion > 0 {
		if err := checkFormatVersion(tree, name, o.FormatVersion); err != nil {
			return err
		}
	}
	return Node{value: tree, set: true, name: name}.Decode(v)
}

// Validator is a decoded document that checks its own content beyond its
// fields' types.
type Validator interface {
	Validate() error
}

// DecodeValid is Decode followed by v's Validate, when the fields decoded.
func DecodeValid(data []byte, v Validator, o Options) error {
	if err := Decode(data, v, o); err != nil {
		return err
	}
	return v.Validate()
}

func checkFormatVersion(tree any, name string, want int) error {
	m, ok := tree.(map[string]any)
	if !ok {
		return &FieldError{Msg: fmt.Sprintf("%s is %s; it must be a JSON object with \"formatVersion\": %d", name, Describe(tree), want), Err: ErrInvalid}
	}
	v, ok := m["formatVersion"]
	if !ok {
		return &FieldError{Path: "formatVersion", Msg: fmt.Sprintf("is missing; add \"formatVersion\": %d", want), Err: ErrInvalid}
	}
	n, ok := v.(json.Number)
	got, err := strconv.ParseInt(string(n), 10, 64)
	if !ok || err != nil {
		return &FieldError{Path: "formatVersion", Msg: fmt.Sprintf("is %s; write the format version as a whole number, %d", Describe(v), want), Err: ErrInvalid}
	}
	if got != int64(want) {
		return &FieldError{Path: "formatVersion", Msg: fmt.Sprintf("is %d; this Sward reads format %d only: upgrade Sward to read newer documents, or write format %d", got, want, want), Err: ErrInvalid}
	}
	return nil
}

// Node is an undecoded part of a document. A struct field of type Node
// receives the subtree at its path; Decode turns it into a Go value later,
// with errors naming the full path.
type Node struct {
	value any
	path  string
	name  string
	set   bool
}

// Path is where the node sits in its document.
func (n Node) Path() string { return n.path }

// Decode assigns the node to v, a non-nil pointer, as the package's Decode
// does for a whole document.
func (n Node) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: Decode needs a non-nil pointer, got %T", v)
	}
	if !n.set {
		return &FieldError{Path: n.path, Msg: "is missing", Err: ErrInvalid}
	}
	d := &decoder{name: n.name, base: n.path}
	d.assign(n.value, rv.Elem(), "")
	return d.errs.Err()
}

var nodeType = reflect.TypeFor[Node]()

type decoder struct {
	name string
	base string   // the path of the decoded node in its document
	path segments // below base, rendered only for an error or a Node
	errs Problems
}

// at renders the current path.
func (d *decoder) at() string {
	if len(d.path) == 0 {
		return d.base
	}
	rest := d.path.String()
	if d.base == "" || rest[0] == '[' {
		return d.base + rest
	}
	return d.base + "." + rest
}

func (d *decoder) errorf(format string, args ...any) { d.errs.Add(d.at(), format, args...) }

// wrongType reports a value of the wrong JSON kind.
func (d *decoder) wrongType(v any, want, example string) {
	if example != "" {
		want += ", such as " + example
	}
	switch {
	case d.at() == "":
		d.errorf("%s is %s; it must be %s", d.name, Describe(v), want)
	case v == nil:
		d.errorf("is null; write %s, or leave the field out if it is optional", want)
	default:
		d.errorf("is %s; write %s", Describe(v), want)
	}
}

// assign decodes tree value v at the current path into rv. example is the
// field's example tag, quoted in messages.
func (d *decoder) assign(v any, rv reflect.Value, example string) {
	if rv.Type() == nodeType {
		rv.Set(reflect.ValueOf(Node{value: v, path: d.at(), name: d.name, set: true}))
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if v == nil {
			d.wrongType(v, kindName(rv.Type().Elem()), example)
			return
		}
		elem := reflect.New(rv.Type().Elem())
		d.assign(v, elem.Elem(), example)
		rv.Set(elem)
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			d.errorf("cannot be decoded into %s (a Sward bug: report it)", rv.Type())
			return
		}
		if p := d.plain(v); p != nil {
			rv.Set(reflect.ValueOf(p))
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.wrongType(v, "a JSON string", example)
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.wrongType(v, "true or false", example)
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			d.wrongType(v, "a whole number", example)
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || rv.OverflowInt(i) {
			d.errorf("is %s; write a whole number from %d to %d", Describe(v), minInt(rv.Type()), maxInt(rv.Type()))
			return
		}
		rv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			d.wrongType(v, "a whole number", example)
			return
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || rv.OverflowUint(u) {
			d.errorf("is %s; write a whole number from 0 to %d", Describe(v), uint64(math.MaxUint64)>>(64-rv.Type().Bits()))
			return
		}
		rv.SetUint(u)
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			d.wrongType(v, "a number", example)
			return
		}
		f, err := strconv.ParseFloat(string(n), rv.Type().Bits())
		if err != nil || math.IsInf(f, 0) {
			d.errorf("is %s, out of range for a %d-bit floating-point number; write a smaller number", Describe(v), rv.Type().Bits())
			return
		}
		rv.SetFloat(f)
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			d.wrongType(v, "a list", example)
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(l), len(l))
		for i, e := range l {
			d.path.pushIndex(i)
			d.assign(e, s.Index(i), "")
			d.path.pop()
		}
		rv.Set(s)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok || rv.Type().Key().Kind() != reflect.String {
			d.wrongType(v, "an object", example)
			return
		}
		out := reflect.MakeMapWithSize(rv.Type(), len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			e := reflect.New(rv.Type().Elem()).Elem()
			d.path.pushKey(k)
			d.assign(m[k], e, "")
			d.path.pop()
			out.SetMapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()), e)
		}
		rv.Set(out)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.wrongType(v, "an object", example)
			return
		}
		d.object(m, rv)
	default:
		d.errorf("cannot be decoded into %s (a Sward bug: report it)", rv.Type())
	}
}

// object assigns an object's keys to a struct's fields, in the fields'
// order, so errors come in a stable order without sorting the keys.
func (d *decoder) object(m map[string]any, rv reflect.Value) {
	info := structInfo(rv.Type())
	matched := 0
	for i := range info.fields {
		f := &info.fields[i]
		v, ok := m[f.name]
		if !ok {
			if f.required {
				msg := "is missing; add it"
				if f.example != "" {
					msg += ", such as " + f.example
				}
				d.path.pushKey(f.name)
				d.errorf("%s", msg)
				d.path.pop()
			}
			continue
		}
		matched++
		d.path.pushKey(f.name)
		d.assign(v, fieldByIndex(rv, f.index), f.example)
		d.path.pop()
	}
	if matched == len(m) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, known := info.byName[k]; known {
			continue
		}
		hint := "the fields here are " + strings.Join(info.names, ", ")
		for _, want := range info.names {
			if strings.EqualFold(k, want) {
				hint = fmt.Sprintf("did you mean %q? field names are case-sensitive", want)
			}
		}
		d.path.pushKey(k)
		d.errorf("is not a known field; %s", hint)
		d.path.pop()
	}
}

// fieldByIndex walks embedded structs, allocating nil embedded pointers.
func fieldByIndex(rv reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				rv.Set(reflect.New(rv.Type().Elem()))
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	return rv
}

// plain converts a tree value to what encoding/json would decode into an
// any: json.Number becomes float64.
func (d *decoder) plain(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			d.errorf("%s is out of range for a 64-bit floating-point number; write a smaller number or quote it", Truncate(string(v)))
			return nil
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			d.path.pushKey(k)
			out[k] = d.plain(e)
			d.path.pop()
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			d.path.pushIndex(i)
			out[i] = d.plain(e)
			d.path.pop()
		}
		return out
	}
	return v
}

type fieldInfo struct {
	name     string
	index    []int
	required bool
	example  string
}

type typeInfo struct {
	fields []fieldInfo
	byName map[string]int
	names  []string // in declaration order, for messages
}

var typeCache sync.Map // reflect.Type → *typeInfo

func structInfo(t reflect.Type) *typeInfo {
	if ti, ok := typeCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{byName: map[string]int{}}
	collectFields(t, nil, ti)
	if len(ti.fields) > 64 {
		panic(fmt.Sprintf("strictjson: %s has %d fields; at most 64 are supported", t, len(ti.fields)))
	}
	typeCache.Store(t, ti)
	return ti
}

func collectFields(t reflect.Type, parent []int, ti *typeInfo) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(append([]int(nil), parent...), i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, index, ti)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		ti.byName[name] = len(ti.fields)
		ti.names = append(ti.names, name)
		ti.fields = append(ti.fields, fieldInfo{
			name:     name,
			index:    index,
			required: hasOption(opts, "required"),
			example:  sf.Tag.Get("example"),
		})
	}
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	}
	return "an object"
}

func minInt(t reflect.Type) int64 { return -1 << (t.Bits() - 1) }
func maxInt(t reflect.Type) int64 { return 1<<(t.Bits()-1) - 1 }

// Marshal encodes v as compact JSON without HTML escaping and without a
// trailing newline: the canonical bytes of a document.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
