package release

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/strictjson"
)

const (
	// FormatVersion is the manifest format this package reads and writes.
	FormatVersion = 1

	// MaxManifestSize bounds a manifest. 100 components with a few artifacts
	// each and modest configuration merges take well under 128 KB; the
	// deployment document built from it must also fit IoT Jobs' 32 KB.
	MaxManifestSize = 256 << 10

	// MaxComponents bounds the components of one release, and with
	// MaxArtifacts the S3 checks one release Lambda invocation makes.
	MaxComponents = 100

	// MaxArtifacts bounds the artifacts of one component.
	MaxArtifacts = 50

	// MaxJobDocumentSize is IoT Jobs' limit on a job document.
	MaxJobDocumentSize = 32768

	// JobIDPrefix starts every Sward release's IoT job id.
	JobIDPrefix = "sward-"

	// ManifestName is the manifest's file name under releases/<commit>/.
	ManifestName = "release.json"

	// Prefix is where releases live in the artifacts bucket.
	Prefix = "releases/"
)

// ErrInvalid is wrapped by every error about a manifest's content; errors
// are *strictjson.FieldError values naming the field path.
var ErrInvalid = strictjson.ErrInvalid

// ErrTooLarge is wrapped by the error for a manifest over MaxManifestSize.
var ErrTooLarge = strictjson.ErrTooLarge

// FieldError is one problem in one manifest.
type FieldError = strictjson.FieldError

// Manifest is a release: the components of one commit for one thing group,
// and how to roll them out.
type Manifest struct {
	FormatVersion int                  `json:"formatVersion,required"`
	CommitID      string               `json:"commitId,required" example:"\"3f2a…\" (the full commit id)"`
	ThingGroup    string               `json:"thingGroup,required" example:"\"sward-devices\""`
	Components    map[string]Component `json:"components,required"`
	// Policies are the deployment document's deploymentPolicies; Decode
	// fills the defaults for what is left out.
	Policies        deployment.Policies `json:"deploymentPolicies"`
	TargetSelection TargetSelection     `json:"targetSelection,omitempty" example:"\"CONTINUOUS\""`
	Rollout         *Rollout            `json:"rollout,omitempty"`
	Abort           *Abort              `json:"abort,omitempty"`
	// InProgressTimeoutInMinutes times out a device's execution that stays
	// IN_PROGRESS longer; zero means no timeout.
	InProgressTimeoutInMinutes int64 `json:"inProgressTimeoutInMinutes,omitempty" example:"60"`
}

// Component is one component version of a release.
type Component struct {
	Version             string                         `json:"componentVersion,required" example:"\"1.0.0\""`
	ConfigurationUpdate deployment.ConfigurationUpdate `json:"configurationUpdate,omitzero"`
	RunWith             deployment.RunWith             `json:"runWith,omitzero"`
	Recipe              Object                         `json:"recipe,required"`
	Artifacts           []Object                       `json:"artifacts,omitempty"`
}

// Object is a file of the release in the artifacts bucket.
type Object struct {
	Key string `json:"key,required" example:"\"artifacts/com.example.A/1.0.0/app\""`
	// SHA256 is the base64 SHA-256 of the object's content.
	SHA256 string `json:"sha256,required" example:"\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\""`
}

// TargetSelection is IoT Jobs' targetSelection.
type TargetSelection string

// The target selections.
const (
	// Continuous also deploys to things added to the group later, as
	// Greengrass's thing group deployments do. The default.
	Continuous TargetSelection = "CONTINUOUS"
	// Snapshot deploys to the group's things at job creation only.
	Snapshot TargetSelection = "SNAPSHOT"
)

// Rollout is IoT Jobs' jobExecutionsRolloutConfig.
type Rollout struct {
	MaximumPerMinute int32            `json:"maximumPerMinute,omitempty" example:"50"`
	ExponentialRate  *ExponentialRate `json:"exponentialRate,omitempty"`
}

// ExponentialRate is IoT Jobs' exponentialRate.
type ExponentialRate struct {
	BaseRatePerMinute    int32                `json:"baseRatePerMinute,required" example:"5"`
	IncrementFactor      float64              `json:"incrementFactor,required" example:"2"`
	RateIncreaseCriteria RateIncreaseCriteria `json:"rateIncreaseCriteria,required" example:"{\"numberOfSucceededThings\": 5}"`
}

// RateIncreaseCriteria is IoT Jobs' rateIncreaseCriteria: one of the two.
type RateIncreaseCriteria struct {
	NumberOfNotifiedThings  int32 `json:"numberOfNotifiedThings,omitempty"`
	NumberOfSucceededThings int32 `json:"numberOfSucceededThings,omitempty"`
}

// Abort is IoT Jobs' abortConfig; the action is always CANCEL.
type Abort struct {
	Criteria []AbortCriterion `json:"criteria,required"`
}

// FailureType is the kind of device outcome an abort criterion counts.
type FailureType string

// The failure types. Devices report FAILED and REJECTED on the status
// topic; TIMED_OUT is set by IoT Jobs and only its own abort config sees
// it.
const (
	FailureFailed   FailureType = "FAILED"
	FailureRejected FailureType = "REJECTED"
	FailureTimedOut FailureType = "TIMED_OUT"
	FailureAll      FailureType = "ALL"
)

// AbortCriterion cancels the rollout when at least ThresholdPercentage of
// the devices that finished failed this way, once at least
// MinNumberOfExecutedThings finished.
type AbortCriterion struct {
	FailureType               FailureType `json:"failureType,required" example:"\"FAILED\""`
	ThresholdPercentage       float64     `json:"thresholdPercentage,required" example:"20"`
	MinNumberOfExecutedThings int32       `json:"minNumberOfExecutedThings,required" example:"5"`
}

// Exceeded reports whether the criterion fires for these device counts:
// failed and rejected devices, and all devices that finished (succeeded,
// failed or rejected). TIMED_OUT criteria never fire here, as devices do
// not report time-outs.
func (c AbortCriterion) Exceeded(failed, rejected, finished int64) bool {
	if finished < int64(c.MinNumberOfExecutedThings) || finished == 0 {
		return false
	}
	var bad int64
	switch c.FailureType {
	case FailureFailed:
		bad = failed
	case FailureRejected:
		bad = rejected
	case FailureAll:
		bad = failed + rejected
	default:
		return false
	}
	return float64(bad)*100 >= c.ThresholdPercentage*float64(finished) && bad > 0
}

// JobID is the IoT job id of the release of commit.
func JobID(commit string) string {
	return JobIDPrefix + commit[:min(len(commit), 40)]
}

// ManifestKey is where the manifest of commit lives in the bucket.
func ManifestKey(commit string) string { return Prefix + commit + "/" + ManifestName }

// RecipeKey is where the recipe of a component version of commit lives.
func RecipeKey(commit, name, version string) string {
	return RecipePrefix(commit) + deployment.RecipeFile(name, version)
}

// RecipePrefix is the folder of the recipes of commit in the bucket.
func RecipePrefix(commit string) string { return Prefix + commit + "/recipes/" }

// RecipeSource is where a device finds the recipes of the release of
// commit in bucket: the job document's recipeSource.
func RecipeSource(bucket, commit string) *deployment.RecipeSource {
	return &deployment.RecipeSource{Bucket: bucket, Prefix: RecipePrefix(commit)}
}

// ArtifactsPrefix is where `sward publish` uploads artifacts.
const ArtifactsPrefix = "artifacts/"

// ArtifactKey is where `sward publish` uploads an artifact file of a
// component version: the version's files never change once uploaded.
func ArtifactKey(name, version, file string) string {
	return ArtifactsPrefix + name + "/" + version + "/" + file
}

// LastReleaseKey is the marker naming the last release published to group
// ({"commitId": …}). It is not a manifest key, so the release Lambda's
// notification (suffix ManifestName) never fires for it.
func LastReleaseKey(group string) string { return Prefix + "latest/" + group }

// LastRelease is the content of the LastReleaseKey marker.
type LastRelease struct {
	CommitID string `json:"commitId"`
}

// ParseManifestKey returns the commit of a manifest key
// (releases/<commit>/release.json), or an error naming the expected form.
func ParseManifestKey(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, Prefix)
	commit, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || name != ManifestName || CheckCommit(commit) != nil {
		return "", fmt.Errorf("%q is not a release manifest key; write the manifest to %s", strictjson.Truncate(key), ManifestKey("<commit>"))
	}
	return commit, nil
}

var commitChars = regexp.MustCompile(`^[0-9a-f]+$`)

// CheckCommit returns why c is not a full commit id (40 or 64 lowercase hex
// digits), or nil.
func CheckCommit(c string) error {
	if (len(c) != 40 && len(c) != 64) || !commitChars.MatchString(c) {
		return fmt.Errorf("%q is not a full commit id; give the 40 (SHA-1) or 64 (SHA-256) lowercase hex digits of `git rev-parse HEAD`", strictjson.Truncate(c))
	}
	return nil
}

var groupChars = regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`)

// Decode parses and validates a manifest. Every problem is returned,
// joined; each is a *FieldError naming the field path.
func Decode(data []byte) (*Manifest, error) {
	m := &Manifest{Policies: deployment.DefaultPolicies()}
	if err := strictjson.Decode(data, m, strictjson.Options{Name: "the release manifest", MaxSize: MaxManifestSize, FormatVersion: FormatVersion}); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Encode validates the manifest and returns its JSON.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	data, err := strictjson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode release manifest: %w", err)
	}
	if len(data) > MaxManifestSize {
		return nil, &FieldError{Msg: fmt.Sprintf("the release manifest is %d bytes, over the %d-byte limit; release fewer components", len(data), MaxManifestSize), Err: ErrTooLarge}
	}
	return data, nil
}

// Validate checks a manifest's values; Decode calls it.
func (m *Manifest) Validate() error {
	var p strictjson.Problems
	if m.FormatVersion != FormatVersion {
		p.Add("formatVersion", "is %d; write %d", m.FormatVersion, FormatVersion)
	}
	if err := CheckCommit(m.CommitID); err != nil {
		p.Add("commitId", "%v", err)
	}
	if len(m.ThingGroup) > 128 || !groupChars.MatchString(m.ThingGroup) {
		p.Add("thingGroup", "%q is not a thing group name; use 1 to 128 letters, digits, ':', '-' and '_'", strictjson.Truncate(m.ThingGroup))
	}
	switch n := len(m.Components); {
	case n == 0:
		p.Add("components", "is empty; a release deploys at least one component")
	case n > MaxComponents:
		p.Add("components", "has %d components, over the limit of %d; split the release", n, MaxComponents)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Components)) {
		m.Components[name].check(&p, strictjson.Key("components", name), m.CommitID, name)
	}
	if m.CommitID != "" && m.ThingGroup != "" {
		addDeploymentProblems(&p, m.Deployment().Validate())
	}
	switch m.TargetSelection {
	case "", Continuous, Snapshot:
	default:
		p.Add("targetSelection", "%q is not a target selection; use %s (the default) or %s", strictjson.Truncate(string(m.TargetSelection)), Continuous, Snapshot)
	}
	if m.Rollout != nil {
		m.Rollout.check(&p, "rollout")
	}
	if m.Abort != nil {
		m.Abort.check(&p, "abort")
	}
	if t := m.InProgressTimeoutInMinutes; t < 0 || t > 10080 {
		p.Add("inProgressTimeoutInMinutes", "is %d; give 1 to 10080 minutes (7 days), or leave it out for no timeout", t)
	}
	return p.Err()
}

// addDeploymentProblems adds the deployment document's problems with its
// components and policies: the manifest has the same field names there, so
// the paths are the manifest's too. The rest (group, id) the manifest
// checks itself under its own names.
func addDeploymentProblems(p *strictjson.Problems, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var fe *deployment.FieldError
		if !errors.As(e, &fe) {
			p.Add("", "%v", e)
			continue
		}
		if strings.HasPrefix(fe.Path, "components") || strings.HasPrefix(fe.Path, "deploymentPolicies") {
			p.Add(fe.Path, "%s", fe.Msg)
		}
	}
}

func (c Component) check(p *strictjson.Problems, path, commit, name string) {
	c.Recipe.check(p, strictjson.Field(path, "recipe"))
	if want := RecipeKey(commit, name, c.Version); c.Recipe.Key != "" && c.Recipe.Key != want {
		p.Add(strictjson.Field(strictjson.Field(path, "recipe"), "key"), "is %q; a release's recipes live at %s so devices find them: upload it there", strictjson.Truncate(c.Recipe.Key), want)
	}
	if len(c.Artifacts) > MaxArtifacts {
		p.Add(strictjson.Field(path, "artifacts"), "has %d artifacts, over the limit of %d; archive them into fewer files", len(c.Artifacts), MaxArtifacts)
	}
	first := map[string]int{}
	for i, a := range c.Artifacts {
		ap := strictjson.Index(strictjson.Field(path, "artifacts"), i)
		a.check(p, ap)
		if j, dup := first[a.Key]; dup {
			p.Add(strictjson.Field(ap, "key"), "is also artifacts[%d]; list each artifact once", j)
		}
		first[a.Key] = i
	}
}

func (o Object) check(p *strictjson.Problems, path string) {
	if msg := checkKey(o.Key); msg != "" {
		p.Add(strictjson.Field(path, "key"), "%s", msg)
	}
	if raw, err := base64.StdEncoding.DecodeString(o.SHA256); err != nil || len(raw) != 32 {
		p.Add(strictjson.Field(path, "sha256"), "is not a base64 SHA-256 digest (32 bytes); write what `openssl dgst -sha256 -binary FILE | base64` prints")
	}
}

// checkKey returns why k is not an S3 object key, or "".
func checkKey(k string) string {
	switch {
	case k == "":
		return "is empty; give the object's key in the release bucket"
	case len(k) > 1024:
		return fmt.Sprintf("is %d bytes; S3 keys are at most 1024", len(k))
	case !utf8.ValidString(k):
		return "is not UTF-8; S3 keys are UTF-8 text"
	case strings.HasPrefix(k, "/"):
		return fmt.Sprintf("%q starts with '/'; write the key without it", strictjson.Truncate(k))
	case strings.HasSuffix(k, "/"):
		return fmt.Sprintf("%q ends with '/'; name a file, not a folder", strictjson.Truncate(k))
	}
	return ""
}

func (r *Rollout) check(p *strictjson.Problems, path string) {
	if r.MaximumPerMinute == 0 && r.ExponentialRate == nil {
		p.Add(path, "sets nothing; give maximumPerMinute or exponentialRate, or leave rollout out")
	}
	if n := r.MaximumPerMinute; n < 0 || n > 1000 {
		p.Add(strictjson.Field(path, "maximumPerMinute"), "is %d; give 1 to 1000 devices a minute", n)
	}
	e := r.ExponentialRate
	if e == nil {
		return
	}
	ep := strictjson.Field(path, "exponentialRate")
	if n := e.BaseRatePerMinute; n < 1 || n > 1000 {
		p.Add(strictjson.Field(ep, "baseRatePerMinute"), "is %d; give 1 to 1000 devices a minute", n)
	}
	if f := e.IncrementFactor; !(f >= 1.1 && f <= 5) || math.Round(f*10) != f*10 {
		p.Add(strictjson.Field(ep, "incrementFactor"), "is %v; give 1.1 to 5 with at most one decimal", f)
	}
	c := e.RateIncreaseCriteria
	cp := strictjson.Field(ep, "rateIncreaseCriteria")
	if (c.NumberOfNotifiedThings == 0) == (c.NumberOfSucceededThings == 0) {
		p.Add(cp, "needs exactly one of numberOfNotifiedThings and numberOfSucceededThings")
	}
	if c.NumberOfNotifiedThings < 0 || c.NumberOfSucceededThings < 0 {
		p.Add(cp, "has a negative count; give a positive number of devices")
	}
}

func (a *Abort) check(p *strictjson.Problems, path string) {
	cp := strictjson.Field(path, "criteria")
	if len(a.Criteria) == 0 {
		p.Add(cp, "is empty; give at least one criterion, or leave abort out")
	}
	seen := map[FailureType]int{}
	for i, c := range a.Criteria {
		ip := strictjson.Index(cp, i)
		switch c.FailureType {
		case FailureFailed, FailureRejected, FailureTimedOut, FailureAll:
		default:
			p.Add(strictjson.Field(ip, "failureType"), "%q is not a failure type; use %s, %s, %s or %s", strictjson.Truncate(string(c.FailureType)), FailureFailed, FailureRejected, FailureTimedOut, FailureAll)
		}
		if j, dup := seen[c.FailureType]; dup {
			p.Add(strictjson.Field(ip, "failureType"), "is also criteria[%d]'s; give one criterion per failure type", j)
		}
		seen[c.FailureType] = i
		if t := c.ThresholdPercentage; !(t > 0 && t <= 100) {
			p.Add(strictjson.Field(ip, "thresholdPercentage"), "is %v; give a percentage above 0, at most 100", t)
		}
		if c.MinNumberOfExecutedThings < 1 {
			p.Add(strictjson.Field(ip, "minNumberOfExecutedThings"), "is %d; give at least 1", c.MinNumberOfExecutedThings)
		}
	}
}

// Deployment returns the deployment document of the release: every
// component a root component of the thing group, the deployment id the
// job id. It is not validated; Validate reports its problems.
func (m *Manifest) Deployment() *deployment.Document {
	doc := deployment.New(m.ThingGroup)
	doc.DeploymentID = JobID(m.CommitID)
	doc.Policies = m.Policies
	for name, c := range m.Components {
		doc.Components[name] = deployment.Component{
			Version:             c.Version,
			ConfigurationUpdate: c.ConfigurationUpdate,
			RunWith:             c.RunWith,
		}
	}
	return doc
}

// Selection returns the target selection, Continuous when unset.
func (m *Manifest) Selection() TargetSelection {
	if m.TargetSelection == "" {
		return Continuous
	}
	return m.TargetSelection
}

// CheckRecipes checks the recipes of the release (keyed by component name)
// against the manifest; bucket is the release's bucket. Every problem is
// returned, joined, with the manifest path it concerns.
func (m *Manifest) CheckRecipes(recipes map[string]*recipe.Recipe, bucket string) error {
	var p strictjson.Problems
	for _, name := range slices.Sorted(maps.Keys(m.Components)) {
		c := m.Components[name]
		path := strictjson.Key("components", name)
		r := recipes[name]
		if r == nil {
			p.Add(strictjson.Field(path, "recipe"), "has no parsed recipe; upload %s", c.Recipe.Key)
			continue
		}
		if r.Name != name || r.Version != c.Version {
			p.Add(strictjson.Field(path, "recipe"), "%s is the recipe of %s; upload the recipe of %s@%s there", c.Recipe.Key, r.ID(), name, c.Version)
			continue
		}
		checkArtifacts(&p, path, c, r, bucket)
		for _, dep := range r.DependencyNames() {
			req := r.Dependencies[dep]
			other, ok := m.Components[dep]
			if !ok {
				p.Add(path, "depends on %s %s, which the release does not contain; add it", dep, req.VersionRequirement)
				continue
			}
			v, err := recipe.ParseVersion(other.Version)
			if err == nil && !req.Allows(v) {
				p.Add(path, "depends on %s %s, but the release has %s@%s; release a version that satisfies it", dep, req.VersionRequirement, dep, other.Version)
			}
		}
	}
	return p.Err()
}

func checkArtifacts(p *strictjson.Problems, path string, c Component, r *recipe.Recipe, bucket string) {
	listed := map[string]Object{}
	for _, a := range c.Artifacts {
		listed[a.Key] = a
	}
	used := map[string]bool{}
	for mi, man := range r.Manifests {
		for ai, a := range man.Artifacts {
			where := fmt.Sprintf("recipe %s Manifests[%d].Artifacts[%d]", r.ID(), mi, ai)
			switch a.Scheme() {
			case recipe.SchemeFile:
				p.Add(path, "%s is %s, a file on the publishing machine; publish with `sward publish`, which uploads it and writes its s3: URI", where, strictjson.Truncate(a.URI))
				continue
			case recipe.SchemeS3:
			default:
				continue // docker: and greengrass: are fetched by other means
			}
			b, key, _ := strings.Cut(strings.TrimPrefix(a.URI[len("s3:"):], "//"), "/")
			if b != bucket {
				p.Add(path, "%s is in bucket %q; artifacts must be in the release's bucket %q, which devices can read", where, strictjson.Truncate(b), bucket)
				continue
			}
			o, ok := listed[key]
			if !ok {
				p.Add(strictjson.Field(path, "artifacts"), "does not list %s, which %s uses; add it with its SHA-256", key, where)
				continue
			}
			used[key] = true
			if a.Digest == "" || a.Algorithm != recipe.AlgorithmSHA256 {
				p.Add(path, "%s has no SHA-256 Digest; devices verify every artifact, so add it (sward publish does)", where)
			} else if a.Digest != o.SHA256 {
				p.Add(path, "%s has Digest %s but the manifest lists %s for %s; publish again so they agree", where, a.Digest, o.SHA256, key)
			}
		}
	}
	for i, a := range c.Artifacts {
		if !used[a.Key] {
			p.Add(strictjson.Index(strictjson.Field(path, "artifacts"), i), "%s is not used by any manifest of recipe %s; remove it or use it", a.Key, r.ID())
		}
	}
}
