package deployment

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/strictjson"
)

// Field names, in the order errors list them.
var (
	documentFields  = []string{"formatVersion", "deploymentId", "groupName", "components", "componentsToRemove", "deploymentPolicies", "failureHandlingPolicy", "componentUpdatePolicy", "configurationValidationPolicy", "recipeSource"}
	sourceFields    = []string{"bucket", "prefix"}
	componentFields = []string{"componentVersion", "configurationUpdate", "runWith"}
	updateFields    = []string{"merge", "reset"}
	runWithFields   = []string{"posixUser", "windowsUser", "systemResourceLimits"}
	limitsFields    = []string{"cpus", "memory"}
	policiesFields  = []string{"failureHandlingPolicy", "componentUpdatePolicy", "configurationValidationPolicy"}
	updPolicyFields = []string{"action", "timeoutInSeconds"}
	valPolicyFields = []string{"timeoutInSeconds"}
)

// Decode parses and validates a deployment document. It is strict: unknown
// fields, wrong types, duplicate keys and invalid values are errors. Every
// problem found is returned, joined; each is a *FieldError naming the field
// path and wrapping ErrInvalid (or ErrTooLarge).
func Decode(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, tooLarge(len(data))
	}
	tree, err := strictjson.Parse(data, "", "the document")
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	doc := d.document(tree)
	// Validate checks values; skip what the decoder already reported, so a
	// field of the wrong type is not also reported as empty.
	reported := map[string]bool{}
	for _, e := range d.errs {
		reported[e.Path] = true
	}
	for _, e := range doc.problems() {
		if !covered(reported, e.Path) {
			d.errs = append(d.errs, e)
		}
	}
	if err := d.errs.Err(); err != nil {
		return nil, err
	}
	return doc, nil
}

// decoder turns a parsed tree into a Document, recording every structural
// problem (type, unknown field) instead of stopping at the first.
type decoder struct {
	errs strictjson.Problems
}

func (d *decoder) errorf(path, format string, args ...any) { d.errs.Add(path, format, args...) }

// covered reports whether path or a path above it is in reported.
func covered(reported map[string]bool, path string) bool {
	if reported[""] || reported[path] {
		return true
	}
	for i := 0; i < len(path); i++ {
		if (path[i] == '.' || path[i] == '[') && reported[path[:i]] {
			return true
		}
	}
	return false
}

// fields gives access to an object's keys and reports the ones not asked for.
type fields struct {
	d    *decoder
	path string
	m    map[string]any
	used map[string]bool
}

func (d *decoder) object(path string, v any, what string) *fields {
	m, ok := v.(map[string]any)
	if !ok {
		if path == "" {
			d.errorf("", "the document is %s; it must be a JSON object such as {\"components\": {...}}", strictjson.Describe(v))
		} else {
			d.errorf(path, "is %s; it must be an object %s", strictjson.Describe(v), what)
		}
		return nil
	}
	return &fields{d: d, path: path, m: m, used: map[string]bool{}}
}

// take returns the named field and its path.
func (f *fields) take(name string) (any, string, bool) {
	v, ok := f.m[name]
	if ok {
		f.used[name] = true
	}
	return v, strictjson.Key(f.path, name), ok
}

// rejectRest records an error for every key that take did not ask for.
func (f *fields) rejectRest(known []string) {
	for _, k := range slices.Sorted(maps.Keys(f.m)) {
		if f.used[k] {
			continue
		}
		hint := "the fields here are " + strings.Join(known, ", ")
		for _, want := range known {
			if strings.EqualFold(k, want) {
				hint = fmt.Sprintf("did you mean %q? field names are case-sensitive", want)
			}
		}
		f.d.errorf(strictjson.Key(f.path, k), "is not a known field; %s", hint)
	}
}

func (d *decoder) text(path string, v any, what string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.errorf(path, "is %s; write %s as a JSON string", strictjson.Describe(v), what)
	}
	return s, ok
}

func (d *decoder) integer(path string, v any, what string) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		d.errorf(path, "is %s; write %s as a whole number", strictjson.Describe(v), what)
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		d.errorf(path, "is %s; write %s as a whole number that fits in 64 bits", strictjson.Describe(v), what)
		return 0, false
	}
	return i, true
}

func (d *decoder) textList(path string, v any, what string) []string {
	l, ok := v.([]any)
	if !ok {
		d.errorf(path, "is %s; write a list of %s", strictjson.Describe(v), what)
		return nil
	}
	var out []string
	for i, e := range l {
		if s, ok := d.text(strictjson.Index(path, i), e, what); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) document(v any) *Document {
	doc := New(LocalGroup)
	f := d.object("", v, "")
	if f == nil {
		return doc
	}
	defer f.rejectRest(documentFields)
	if v, p, ok := f.take("formatVersion"); ok {
		if n, ok := d.integer(p, v, "the format version"); ok {
			if n != FormatVersion {
				d.errorf(p, "is %d; this Sward reads format %d only, upgrade it to read newer documents", n, FormatVersion)
			}
		}
	}
	if v, p, ok := f.take("deploymentId"); ok {
		doc.DeploymentID, _ = d.text(p, v, "the deployment id")
	}
	if v, p, ok := f.take("groupName"); ok {
		if s, ok := d.text(p, v, "the group name"); ok {
			doc.GroupName = s
		}
	}
	if v, p, ok := f.take("components"); ok {
		if cf := d.object(p, v, "of component name → {\"componentVersion\": \"1.0.0\", ...}"); cf != nil {
			for _, name := range slices.Sorted(maps.Keys(cf.m)) {
				cv, cp, _ := cf.take(name)
				doc.Components[name] = d.component(cp, cv)
			}
		}
	}
	if v, p, ok := f.take("componentsToRemove"); ok {
		doc.ComponentsToRemove = d.textList(p, v, "component names")
	}
	if v, p, ok := f.take("recipeSource"); ok {
		if sf := d.object(p, v, "with bucket and prefix"); sf != nil {
			doc.RecipeSource = &RecipeSource{}
			for _, name := range sourceFields {
				fv, fp, ok := sf.take(name)
				if !ok {
					d.errorf(fp, "is missing; recipeSource needs bucket and prefix")
					continue
				}
				s, _ := d.text(fp, fv, "the "+name)
				if name == "bucket" {
					doc.RecipeSource.Bucket = s
				} else {
					doc.RecipeSource.Prefix = s
				}
			}
			sf.rejectRest(sourceFields)
		}
	}
	var nested map[string]any
	if v, p, ok := f.take("deploymentPolicies"); ok {
		if pf := d.object(p, v, "with failureHandlingPolicy, componentUpdatePolicy, configurationValidationPolicy"); pf != nil {
			nested = pf.m
			d.policies(pf, &doc.Policies)
			pf.rejectRest(policiesFields)
		}
	}
	// Greengrass's own IoT job document has the policies at the top level.
	for _, name := range policiesFields {
		_, top := f.m[name]
		if _, twice := nested[name]; top && twice {
			d.errorf(name, "is also given in deploymentPolicies.%s; keep one (deploymentPolicies is the canonical place)", name)
		}
	}
	d.policies(f, &doc.Policies)
	return doc
}

// policies reads the policy fields of f into p.
func (d *decoder) policies(f *fields, p *Policies) {
	if v, path, ok := f.take("failureHandlingPolicy"); ok {
		if s, ok := d.text(path, v, "ROLLBACK or DO_NOTHING"); ok {
			p.FailureHandling = FailureHandling(s)
		}
	}
	if v, path, ok := f.take("componentUpdatePolicy"); ok {
		if uf := d.object(path, v, "with action and timeoutInSeconds"); uf != nil {
			if v, ap, ok := uf.take("action"); ok {
				if s, ok := d.text(ap, v, "NOTIFY_COMPONENTS or SKIP_NOTIFY_COMPONENTS"); ok {
					p.ComponentUpdate.Action = UpdateAction(s)
				}
			}
			if v, tp, ok := uf.take("timeoutInSeconds"); ok {
				p.ComponentUpdate.TimeoutSeconds = d.timeout(tp, v)
			}
			uf.rejectRest(updPolicyFields)
		}
	}
	if v, path, ok := f.take("configurationValidationPolicy"); ok {
		if vf := d.object(path, v, "with timeoutInSeconds"); vf != nil {
			if v, tp, ok := vf.take("timeoutInSeconds"); ok {
				p.ConfigurationValidation.TimeoutSeconds = d.timeout(tp, v)
			}
			vf.rejectRest(valPolicyFields)
		}
	}
}

func (d *decoder) timeout(path string, v any) int {
	n, ok := d.integer(path, v, "the timeout in seconds")
	if ok && (n < 0 || n > MaxTimeoutSeconds) {
		d.errorf(path, "is %d; give 0 to %d seconds", n, MaxTimeoutSeconds)
		return 0
	}
	return int(n)
}

func (d *decoder) component(path string, v any) Component {
	var c Component
	f := d.object(path, v, "such as {\"componentVersion\": \"1.0.0\"}")
	if f == nil {
		return c
	}
	defer f.rejectRest(componentFields)
	if v, p, ok := f.take("componentVersion"); ok {
		var isText bool
		c.Version, isText = d.text(p, v, "the version (such as \"1.0.0\")")
		if isText && c.Version == "" {
			d.errorf(p, "is empty; give the version to deploy, such as \"1.0.0\", or leave the field out in a %s deployment to keep the current one", LocalGroup)
		}
	}
	if v, p, ok := f.take("configurationUpdate"); ok {
		if uf := d.object(p, v, "with merge and reset"); uf != nil {
			c.ConfigurationUpdate = d.configurationUpdate(uf, func(s string) string { return s })
			uf.rejectRest(updateFields)
		}
	}
	if v, p, ok := f.take("runWith"); ok {
		c.RunWith = d.runWith(p, v)
	}
	return c
}

// configurationUpdate reads merge and reset from f; name maps the canonical
// field name to the key to look up (greengrass-cli writes MERGE and RESET).
func (d *decoder) configurationUpdate(f *fields, name func(string) string) ConfigurationUpdate {
	var u ConfigurationUpdate
	if v, p, ok := f.take(name("merge")); ok {
		u.Merge = d.merge(p, v)
	}
	if v, p, ok := f.take(name("reset")); ok {
		for i, ptr := range d.textList(p, v, "JSON pointers such as \"/mqtt/port\"") {
			if msg := checkPointer(ptr); msg != "" {
				d.errorf(strictjson.Index(p, i), "%s", msg)
			}
			u.Reset = append(u.Reset, ptr)
		}
	}
	return u
}

// merge returns a merge object as encoding/json would decode it. A string
// holding a JSON object is accepted too: the CreateDeployment API carries
// merge serialized that way.
func (d *decoder) merge(path string, v any) map[string]any {
	if s, ok := v.(string); ok {
		inner, err := strictjson.Parse([]byte(s), path, "the string")
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Path != "" {
				d.errs = append(d.errs, fe)
			} else {
				d.errorf(path, "is a string holding JSON, but %v; write the object itself", err)
			}
			return nil
		}
		v = inner
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, "is %s; it must be an object of configuration keys to merge, such as {\"port\": 8080}", strictjson.Describe(v))
		return nil
	}
	if depth := recipe.ConfigDepth(m); depth > recipe.MaxConfigDepth {
		d.errorf(path, "nests %d objects deep; configurations are at most %d deep, flatten it", depth, recipe.MaxConfigDepth)
		return nil
	}
	out, ok := d.plain(path, m).(map[string]any)
	if !ok || len(out) == 0 {
		return nil
	}
	return out
}

// plain converts json.Number to float64, the type configuration uses.
func (d *decoder) plain(path string, v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			d.errorf(path, "%s is out of range for a 64-bit floating-point number; write a smaller number or quote it", strictjson.Truncate(string(v)))
			return nil
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = d.plain(strictjson.Key(path, k), e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = d.plain(strictjson.Index(path, i), e)
		}
		return out
	}
	return v
}

func (d *decoder) runWith(path string, v any) RunWith {
	var r RunWith
	f := d.object(path, v, "such as {\"posixUser\": \"ggc_user:ggc_group\"}")
	if f == nil {
		return r
	}
	defer f.rejectRest(runWithFields)
	if v, p, ok := f.take("posixUser"); ok {
		if s, ok := d.text(p, v, "user or user:group"); ok {
			if msg := checkPosixUser(s); msg != "" {
				d.errorf(p, "%s", msg)
			}
			r.PosixUser = s
		}
	}
	if v, p, ok := f.take("windowsUser"); ok {
		r.WindowsUser, ok = d.text(p, v, "the Windows user")
		if ok && r.WindowsUser == "" {
			d.errorf(p, "is empty; name a Windows user or leave the field out")
		}
	}
	if v, p, ok := f.take("systemResourceLimits"); ok {
		r.SystemResourceLimits = d.limits(p, v)
	}
	return r
}

// limits decodes a systemResourceLimits object.
func (d *decoder) limits(path string, v any) SystemResourceLimits {
	var l SystemResourceLimits
	lf := d.object(path, v, "such as {\"cpus\": 0.5, \"memory\": 102400}")
	if lf == nil {
		return l
	}
	defer lf.rejectRest(limitsFields)
	if v, cp, ok := lf.take("cpus"); ok {
		l.CPUs = d.cpus(cp, v)
	}
	if v, mp, ok := lf.take("memory"); ok {
		if n, ok := d.integer(mp, v, "the memory limit in kilobytes"); ok {
			if n <= 0 {
				d.errorf(mp, "is %d; give a positive number of kilobytes such as 102400, or leave it out for no limit", n)
			} else {
				l.Memory = n
			}
		}
	}
	return l
}

func (d *decoder) cpus(path string, v any) float64 {
	n, ok := v.(json.Number)
	if !ok {
		d.errorf(path, "is %s; write the number of CPUs as a number such as 0.5", strictjson.Describe(v))
		return 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		d.errorf(path, "is %s; give a positive number of CPUs such as 0.5, or leave it out for no limit", strictjson.Truncate(string(n)))
		return 0
	}
	return f
}
