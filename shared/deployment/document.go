package deployment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/strictjson"
)

const (
	// FormatVersion is the document format this package reads and writes.
	// A document without formatVersion is format 1.
	FormatVersion = 1

	// MaxDocumentSize bounds a document in bytes. The IoT Jobs limit for a
	// job document is 32768 characters, so every cloud deployment fits;
	// local deployments get twice that for larger configuration merges. The
	// bound keeps decoding cheap on a 512 MB board.
	MaxDocumentSize = 64 << 10

	// LocalGroup is the group of deployments made on the device
	// (`sward deployment create`). Its documents are changes to the group's
	// previous root set; every other group's document replaces it.
	LocalGroup = "LOCAL"

	// MaxTimeoutSeconds bounds the policy timeouts: a day is far beyond what
	// any component needs to acknowledge an update or validate configuration,
	// and a larger value is almost certainly a unit mistake (ms for s).
	MaxTimeoutSeconds = 24 * 60 * 60

	// DefaultUpdateTimeoutSeconds is Greengrass's default for
	// componentUpdatePolicy.timeoutInSeconds.
	DefaultUpdateTimeoutSeconds = 60

	// DefaultValidationTimeoutSeconds is Greengrass's default for
	// configurationValidationPolicy.timeoutInSeconds.
	DefaultValidationTimeoutSeconds = 30

	// maxPointerLength is Greengrass's limit on a reset entry.
	maxPointerLength = 256
)

// deploymentIDPattern is the IoT Jobs jobId pattern: the deployment id
// becomes the job id, a NATS subject token and a key-value key.
var deploymentIDPattern = boundedPattern{regexp.MustCompile(`^[a-zA-Z0-9_-]+$`), 64}

// groupPattern is the AWS IoT thing group name pattern.
var groupPattern = boundedPattern{regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`), 128}

// boundedPattern is a character pattern with a length limit, checked
// apart: a {1,128} repetition compiles into a regexp program that costs
// every sward invocation 2 ms at start.
type boundedPattern struct {
	chars *regexp.Regexp
	max   int
}

// MatchString reports whether s is 1 to max characters of the pattern.
func (p boundedPattern) MatchString(s string) bool {
	return len(s) <= p.max && p.chars.MatchString(s)
}

// Document is a deployment: the root components a group wants on its
// devices, how to configure and run them, and what to do on failure.
type Document struct {
	// FormatVersion is always FormatVersion.
	FormatVersion int `json:"formatVersion"`
	// DeploymentID is empty in requests; the engine assigns one.
	DeploymentID string `json:"deploymentId,omitempty"`
	// GroupName is the target group: LocalGroup or a thing group name.
	GroupName string `json:"groupName"`
	// Components are keyed by component name. Never nil after Decode.
	Components map[string]Component `json:"components"`
	// ComponentsToRemove are dropped from the LOCAL group's root set. Other
	// groups remove a component by leaving it out of Components.
	ComponentsToRemove []string `json:"componentsToRemove,omitempty"`
	// Policies are Greengrass's deploymentPolicies.
	Policies Policies `json:"deploymentPolicies"`
	// RecipeSource, on a thing group's document, says where the device
	// downloads the recipes of its components (the release Lambda sets it).
	// A LOCAL document brings its recipes with it and has none.
	RecipeSource *RecipeSource `json:"recipeSource,omitempty"`
}

// RecipeSource is where a cloud deployment's recipes are: the object
// Prefix + RecipeFile(name, version) of Bucket for each component of the
// document (releases/<commit>/recipes/<Name>-<Version>.recipe.yaml for a
// release).
type RecipeSource struct {
	// Bucket is the S3 bucket (3 to 63 lowercase letters, digits, '.' and '-').
	Bucket string `json:"bucket"`
	// Prefix ends in '/' and does not start with one.
	Prefix string `json:"prefix"`
}

// RecipeFile is the name of a component version's recipe under a
// RecipeSource prefix.
func RecipeFile(name, version string) string { return name + "-" + version + ".recipe.yaml" }

// RecipeKey is the object key of a component version's recipe.
func (s RecipeSource) RecipeKey(name, version string) string {
	return s.Prefix + RecipeFile(name, version)
}

// bucketPattern is the S3 bucket naming rule's characters.
var bucketPattern = boundedPattern{regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`), 63}

func (s *RecipeSource) check(p *strictjson.Problems, path string, local bool) {
	if local {
		p.Add(path, "is only for thing group deployments; a %s deployment brings its recipes with it, so leave recipeSource out", LocalGroup)
		return
	}
	if len(s.Bucket) < 3 || !bucketPattern.MatchString(s.Bucket) {
		p.Add(strictjson.Field(path, "bucket"), "%q is not an S3 bucket name; use 3 to 63 lowercase letters, digits, '.' and '-'", strictjson.Truncate(s.Bucket))
	}
	switch {
	case s.Prefix == "" || !strings.HasSuffix(s.Prefix, "/"):
		p.Add(strictjson.Field(path, "prefix"), "%q does not end in '/'; give the folder of the recipes, such as \"releases/<commit>/recipes/\"", strictjson.Truncate(s.Prefix))
	case strings.HasPrefix(s.Prefix, "/") || len(s.Prefix) > 512:
		p.Add(strictjson.Field(path, "prefix"), "%q is not an object key prefix; write it without a leading '/', at most 512 characters", strictjson.Truncate(s.Prefix))
	}
}

// Component is one root component of a deployment.
type Component struct {
	// Version is a strict semantic version. A LOCAL document may leave it
	// empty to keep the version the group already runs (a configuration-only
	// change).
	Version             string              `json:"componentVersion,omitempty"`
	ConfigurationUpdate ConfigurationUpdate `json:"configurationUpdate,omitzero"`
	RunWith             RunWith             `json:"runWith,omitzero"`
}

// ConfigurationUpdate changes a component's configuration: Reset runs first,
// then Merge.
type ConfigurationUpdate struct {
	// Merge is merged into the configuration; numbers are float64, as
	// encoding/json decodes them.
	Merge map[string]any `json:"merge,omitempty"`
	// Reset lists RFC 6901 JSON pointers to reset to the recipe's default;
	// "" resets the whole configuration.
	Reset []string `json:"reset,omitempty"`
}

// RunWith says how the component's processes run.
type RunWith struct {
	// PosixUser is "user" or "user:group".
	PosixUser string `json:"posixUser,omitempty"`
	// WindowsUser is carried for Greengrass documents aimed at mixed fleets;
	// Sward runs on Linux and ignores it.
	WindowsUser          string               `json:"windowsUser,omitempty"`
	SystemResourceLimits SystemResourceLimits `json:"systemResourceLimits,omitzero"`
}

// SystemResourceLimits caps a component's processes. Zero means no limit.
type SystemResourceLimits struct {
	// CPUs is the CPU time share, in CPUs (0.5 is half of one CPU).
	CPUs float64 `json:"cpus,omitempty"`
	// Memory is the memory limit in kilobytes.
	Memory int64 `json:"memory,omitempty"`
}

// Policies are the deployment policies, Greengrass's deploymentPolicies.
type Policies struct {
	FailureHandling         FailureHandling       `json:"failureHandlingPolicy"`
	ComponentUpdate         ComponentUpdatePolicy `json:"componentUpdatePolicy"`
	ConfigurationValidation ValidationPolicy      `json:"configurationValidationPolicy"`
}

// FailureHandling says what a device does when a deployment fails.
type FailureHandling string

const (
	// Rollback restores the components and configuration the device ran
	// before the deployment. The default.
	Rollback FailureHandling = "ROLLBACK"
	// DoNothing leaves the device as the failed deployment left it.
	DoNothing FailureHandling = "DO_NOTHING"
)

// UpdateAction says whether components hear about an update before it.
type UpdateAction string

const (
	// NotifyComponents tells subscribed components about the update and
	// waits up to the timeout while they defer it. The default.
	NotifyComponents UpdateAction = "NOTIFY_COMPONENTS"
	// SkipNotifyComponents updates without asking.
	SkipNotifyComponents UpdateAction = "SKIP_NOTIFY_COMPONENTS"
)

// ComponentUpdatePolicy is Greengrass's componentUpdatePolicy.
type ComponentUpdatePolicy struct {
	Action UpdateAction `json:"action"`
	// TimeoutSeconds is how long each component has to report that it is
	// safe to update; 0 does not wait.
	TimeoutSeconds int `json:"timeoutInSeconds"`
}

// ValidationPolicy is Greengrass's configurationValidationPolicy.
type ValidationPolicy struct {
	// TimeoutSeconds is how long each component has to validate a
	// configuration change; 0 does not wait.
	TimeoutSeconds int `json:"timeoutInSeconds"`
}

// DefaultPolicies returns Greengrass's defaults: ROLLBACK,
// NOTIFY_COMPONENTS with 60 s, validation within 30 s.
func DefaultPolicies() Policies {
	return Policies{
		FailureHandling:         Rollback,
		ComponentUpdate:         ComponentUpdatePolicy{Action: NotifyComponents, TimeoutSeconds: DefaultUpdateTimeoutSeconds},
		ConfigurationValidation: ValidationPolicy{TimeoutSeconds: DefaultValidationTimeoutSeconds},
	}
}

// New returns an empty document for group with the default policies.
func New(group string) *Document {
	return &Document{
		FormatVersion: FormatVersion,
		GroupName:     group,
		Components:    map[string]Component{},
		Policies:      DefaultPolicies(),
	}
}

// Local reports whether the document is a LOCAL deployment, which changes
// the group's previous root set instead of replacing it.
func (d *Document) Local() bool { return d.GroupName == LocalGroup }

// Validate checks a document built in code as Decode checks a decoded one.
// Every problem is returned, joined; each is a *FieldError wrapping
// ErrInvalid.
func (d *Document) Validate() error { return d.problems().Err() }

func (d *Document) problems() strictjson.Problems {
	var p strictjson.Problems
	if d.FormatVersion != FormatVersion {
		p.Add("formatVersion", "is %d; this Sward reads format %d only, upgrade it to read newer documents", d.FormatVersion, FormatVersion)
	}
	if d.DeploymentID != "" && !deploymentIDPattern.MatchString(d.DeploymentID) {
		p.Add("deploymentId", "%q is not a deployment id; use 1 to 64 letters, digits, '-' and '_' (an IoT job id), or leave it out to have one assigned", strictjson.Truncate(d.DeploymentID))
	}
	switch {
	case d.GroupName == "":
		p.Add("groupName", "is empty; use %q for a local deployment or a thing group name", LocalGroup)
	case !groupPattern.MatchString(d.GroupName):
		p.Add("groupName", "%q is not a group name; use 1 to 128 letters, digits, ':', '-' and '_' (an AWS IoT thing group name)", strictjson.Truncate(d.GroupName))
	}
	for _, name := range slices.Sorted(maps.Keys(d.Components)) {
		d.Components[name].check(&p, strictjson.Key("components", name), name, d.Local())
	}
	d.checkRemovals(&p)
	d.Policies.check(&p, "deploymentPolicies")
	if d.RecipeSource != nil {
		d.RecipeSource.check(&p, "recipeSource", d.Local())
	}
	return p
}

func (d *Document) checkRemovals(p *strictjson.Problems) {
	if len(d.ComponentsToRemove) > 0 && !d.Local() {
		p.Add("componentsToRemove", "is only for %s deployments; a %s deployment replaces the group's components, so leave the component out of components instead", LocalGroup, strictjson.Truncate(d.GroupName))
		return
	}
	seen := map[string]bool{}
	for i, name := range d.ComponentsToRemove {
		path := strictjson.Index("componentsToRemove", i)
		if err := recipe.ValidateName(name); err != nil {
			p.Add(path, "%v", err)
			continue
		}
		if seen[name] {
			p.Add(path, "%q is listed twice; list it once", name)
		}
		seen[name] = true
		if _, ok := d.Components[name]; ok {
			p.Add(path, "%q is also in components; a deployment either removes a component or deploys it, not both", name)
		}
	}
}

func (c Component) check(p *strictjson.Problems, path, name string, local bool) {
	if err := recipe.ValidateName(name); err != nil {
		p.Add(path, "component name %v", err)
	}
	switch {
	case c.Version == "" && !local:
		p.Add(strictjson.Field(path, "componentVersion"), "is missing; give the version to deploy, such as \"1.0.0\"")
	case c.Version != "":
		if _, err := recipe.ParseVersion(c.Version); err != nil {
			p.Add(strictjson.Field(path, "componentVersion"), "%v", err)
		}
	}
	cu := strictjson.Field(path, "configurationUpdate")
	for i, ptr := range c.ConfigurationUpdate.Reset {
		if msg := checkPointer(ptr); msg != "" {
			p.Add(strictjson.Index(strictjson.Field(cu, "reset"), i), "%s", msg)
		}
	}
	c.RunWith.check(p, strictjson.Field(path, "runWith"))
}

// checkPointer returns why ptr is not an RFC 6901 JSON pointer, or "".
func checkPointer(ptr string) string {
	if len(ptr) > maxPointerLength {
		return fmt.Sprintf("is %d characters long; Greengrass allows at most %d", len(ptr), maxPointerLength)
	}
	if ptr != "" && ptr[0] != '/' {
		return fmt.Sprintf("%q is not a JSON pointer; start it with '/' (as in /mqtt/port), or use \"\" to reset the whole configuration", strictjson.Truncate(ptr))
	}
	for i := 0; i < len(ptr); i++ {
		if ptr[i] == '~' && (i+1 == len(ptr) || (ptr[i+1] != '0' && ptr[i+1] != '1')) {
			return fmt.Sprintf("%q has a '~' not followed by 0 or 1; write ~0 for '~' and ~1 for '/' (RFC 6901)", strictjson.Truncate(ptr))
		}
	}
	return ""
}

func (r RunWith) check(p *strictjson.Problems, path string) {
	if r.PosixUser != "" {
		if msg := checkPosixUser(r.PosixUser); msg != "" {
			p.Add(strictjson.Field(path, "posixUser"), "%s", msg)
		}
	}
	limits := strictjson.Field(path, "systemResourceLimits")
	if c := r.SystemResourceLimits.CPUs; c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
		p.Add(strictjson.Field(limits, "cpus"), "is %v; give a positive number of CPUs such as 0.5, or leave it out for no limit", c)
	}
	if m := r.SystemResourceLimits.Memory; m < 0 {
		p.Add(strictjson.Field(limits, "memory"), "is %d; give a positive number of kilobytes such as 102400, or leave it out for no limit", m)
	}
}

// checkPosixUser returns why s is not "user" or "user:group", or "".
func checkPosixUser(s string) string {
	parts := strings.Split(s, ":")
	bad := len(parts) > 2
	for _, part := range parts {
		if part == "" || strings.IndexFunc(part, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			bad = true
		}
	}
	if bad {
		return fmt.Sprintf("%q is not a POSIX user; write user or user:group (a name or number each, no spaces)", strictjson.Truncate(s))
	}
	return ""
}

func (p Policies) check(ps *strictjson.Problems, path string) {
	switch p.FailureHandling {
	case Rollback, DoNothing:
	default:
		ps.Add(strictjson.Field(path, "failureHandlingPolicy"), "%q is not a failure handling policy; use %s (the default) or %s", strictjson.Truncate(string(p.FailureHandling)), Rollback, DoNothing)
	}
	cu := strictjson.Field(path, "componentUpdatePolicy")
	switch p.ComponentUpdate.Action {
	case NotifyComponents, SkipNotifyComponents:
	default:
		ps.Add(strictjson.Field(cu, "action"), "%q is not a component update action; use %s (the default) or %s", strictjson.Truncate(string(p.ComponentUpdate.Action)), NotifyComponents, SkipNotifyComponents)
	}
	checkTimeout(ps, strictjson.Field(cu, "timeoutInSeconds"), int64(p.ComponentUpdate.TimeoutSeconds))
	checkTimeout(ps, strictjson.Field(strictjson.Field(path, "configurationValidationPolicy"), "timeoutInSeconds"), int64(p.ConfigurationValidation.TimeoutSeconds))
}

func checkTimeout(p *strictjson.Problems, path string, s int64) {
	if s < 0 || s > MaxTimeoutSeconds {
		p.Add(path, "is %d; give 0 to %d seconds", s, MaxTimeoutSeconds)
	}
}

// Encode validates the document and returns its canonical JSON: fields in a
// fixed order, map keys sorted, defaults written out, empty optional fields
// left out, no insignificant space. Decode(Encode(d)) equals d.
func (d *Document) Encode() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	out := *d
	if out.Components == nil {
		out.Components = map[string]Component{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return nil, fmt.Errorf("encode deployment document: %w", err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(data) > MaxDocumentSize {
		return nil, tooLarge(len(data))
	}
	return data, nil
}

func tooLarge(size int) error {
	return &FieldError{
		Msg: fmt.Sprintf("deployment document is %d bytes, over the %d-byte limit; move large configuration into the recipe's DefaultConfiguration or an artifact", size, MaxDocumentSize),
		Err: ErrTooLarge,
	}
}

// RootComponents returns the group's root components (name → version) after
// this deployment, given the group's roots before it. A LOCAL document
// changes previous: it drops ComponentsToRemove and sets every component it
// lists, keeping the previous version where it names none. A component it
// lists without a version that is not one of the group's roots stays out of
// them: the document only updates the configuration (or runWith) of that
// component as the device runs it, whichever group deployed it. Any other
// group's document replaces previous.
func (d *Document) RootComponents(previous map[string]string) map[string]string {
	roots := map[string]string{}
	if d.Local() {
		for name, v := range previous {
			roots[name] = v
		}
		for _, name := range d.ComponentsToRemove {
			delete(roots, name)
		}
	}
	for name, c := range d.Components {
		switch prev, ok := previous[name]; {
		case c.Version != "":
			roots[name] = c.Version
		case d.Local() && ok:
			roots[name] = prev
		}
	}
	return roots
}
