package recipe

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/sward-iot/sward/shared/strictjson"
)

// Platform keys Greengrass defines. Any other key is a custom attribute that
// a device declares (Greengrass's platformOverride).
const (
	KeyOS                 = "os"
	KeyArchitecture       = "architecture"
	KeyArchitectureDetail = "architecture.detail"
)

// Platform is a set of platform attributes. On a device it holds labels
// (os=linux); in a manifest it holds requirements, where each value is an
// exact label, `*` or `all` (any value, or none), or a /regex/.
type Platform map[string]string

// String renders the platform in ParsePlatform's form, os and architecture
// first: "os=linux,architecture=aarch64".
func (p Platform) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		switch k {
		case KeyOS:
			return 0
		case KeyArchitecture:
			return 1
		case KeyArchitectureDetail:
			return 2
		}
		return 3
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, ",")
}

// HostPlatform describes the machine this code runs on as the Greengrass
// nucleus's PlatformResolver detects it: os (linux, windows, darwin),
// architecture (amd64, aarch64, arm, x86; else Go's GOARCH, where the Java
// nucleus says "unknown") and, on ARM Linux, architecture.detail — the
// machine name uname -m reports when it is one of armv6l, armv7l, armv8l,
// armv6b, armv7b or armv8b (so a Raspberry Pi running 32-bit Linux says
// armv7l, and a 64-bit ARM machine, whose uname -m is aarch64, has none).
func HostPlatform() Platform {
	p := Platform{KeyOS: runtime.GOOS, KeyArchitecture: greengrassArch(runtime.GOARCH)}
	if detail := archDetail(); detail != "" {
		p[KeyArchitectureDetail] = detail
	}
	return p
}

// Override returns p with every attribute of overrides added, or replacing
// the one p has, as Greengrass applies its platformOverride to the platform
// it detects: `--platform npu=rknn` keeps os and architecture and adds npu.
// Neither p nor overrides is changed.
func (p Platform) Override(overrides Platform) Platform {
	out := make(Platform, len(p)+len(overrides))
	maps.Copy(out, p)
	maps.Copy(out, overrides)
	return out
}

func greengrassArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	}
	return goarch // amd64 and arm are spelled alike
}

// armDetails are the machine names (uname -m) the Greengrass nucleus takes as
// architecture.detail; any other leaves the attribute out.
var armDetails = []string{"armv6l", "armv7l", "armv8l", "armv6b", "armv7b", "armv8b"}

// armDetail returns the architecture.detail for a Linux machine name
// (uname -m), as the nucleus's PlatformResolver does: the name itself,
// lower-cased, when it is one of armDetails, else "".
func armDetail(machine string) string {
	machine = strings.ToLower(strings.TrimSpace(machine))
	if slices.Contains(armDetails, machine) {
		return machine
	}
	return ""
}

// ParsePlatform parses the command-line form of a platform,
// "os=linux,architecture=aarch64". Keys and values may not be empty or hold
// spaces; a key may appear once.
func ParsePlatform(s string) (Platform, error) {
	const example = "os=linux,architecture=aarch64"
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("platform is empty; write key=value pairs separated by commas, such as %s", example)
	}
	p := Platform{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case part == "":
			return nil, fmt.Errorf("platform %q has an empty entry (two commas in a row?); write key=value pairs such as %s", s, example)
		case !ok:
			return nil, fmt.Errorf("platform entry %q has no '='; write key=value such as os=linux", part)
		case k == "" || v == "":
			return nil, fmt.Errorf("platform entry %q needs both a key and a value, such as os=linux", part)
		case strings.ContainsAny(k, " \t") || strings.ContainsAny(v, " \t"):
			return nil, fmt.Errorf("platform entry %q contains a space; keys and values are single words", part)
		}
		if _, dup := p[k]; dup {
			return nil, fmt.Errorf("platform key %q is given twice in %q; give each key once", k, s)
		}
		p[k] = v
	}
	return p, nil
}

// isWildcard reports whether a requirement value accepts any value, or none.
// Greengrass documents `*`; older recipes write `all` or `any`.
func isWildcard(v string) bool { return v == "*" || v == "all" || v == "any" }

// platformRegexp returns the pattern of a /regex/ requirement, anchored as
// Java's String.matches is; ok is false for a value that is not a regex.
func platformRegexp(v string) (string, bool) {
	if len(v) > 2 && v[0] == '/' && v[len(v)-1] == '/' {
		return "^(?:" + v[1:len(v)-1] + ")$", true
	}
	return "", false
}

// Matches reports whether the device platform p meets the manifest's
// requirements. A manifest without Platform matches every device.
func (m Manifest) Matches(p Platform) bool {
	for k, want := range m.Platform {
		if !matchValue(want, p[k], hasKey(p, k)) {
			return false
		}
	}
	return true
}

func hasKey(p Platform, k string) bool { _, ok := p[k]; return ok }

func matchValue(want, have string, present bool) bool {
	if isWildcard(want) {
		return true
	}
	if !present {
		return false
	}
	if want == "//" {
		return true // Greengrass's explicit "has any value" test
	}
	if pattern, ok := platformRegexp(want); ok {
		re, err := regexp.Compile(pattern)
		return err == nil && re.MatchString(have)
	}
	return want == have
}

// platform reads a manifest's Platform requirements.
func (d *decoder) platform(path string, f *fields) Platform {
	v, ok := f.take("Platform")
	if !ok || v == nil {
		return nil
	}
	pf := d.object(path, v, "of platform attributes such as os: linux")
	if pf == nil {
		return nil
	}
	p := Platform{}
	for _, k := range slices.Sorted(maps.Keys(pf.m)) {
		kp := join(path, k)
		val, ok := scalar(pf.m[k])
		if !ok {
			d.errorf(kp, "is %s; write a value such as linux, * (any) or /regex/", describe(pf.m[k]))
			continue
		}
		if pattern, isRE := platformRegexp(val); isRE {
			if _, err := regexp.Compile(pattern); err != nil {
				d.errorf(kp, "%q is not a valid regular expression (%v); Sward uses Go RE2 syntax, which has no lookaround or backreferences", strictjson.Truncate(val), err)
				continue
			}
		} else if !isWildcard(val) && val != "//" && !startsAlnum(val) {
			d.errorf(kp, "%q is not a platform value; write an exact value starting with a letter or digit, * (any value) or /regex/", strictjson.Truncate(val))
			continue
		}
		p[k] = val
	}
	return p
}

func startsAlnum(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Selection is what a recipe means on one platform: the first matching
// manifest with its lifecycle resolved.
type Selection struct {
	ManifestIndex int
	// ManifestName is the manifest's Name, or one made from its Platform as
	// Greengrass does when Name is left out.
	ManifestName string
	// Platform is the chosen manifest's platform requirements (not the device's).
	Platform map[string]string
	// Lifecycle is the manifest's own lifecycle, or the global lifecycle
	// filtered by the manifest's Selections.
	Lifecycle Lifecycle
	Artifacts []Artifact
}

// Select returns the first manifest that accepts platform p, with its
// lifecycle resolved. When none does, the error wraps ErrNoMatchingManifest
// and lists the platform seen and the manifests tried.
func (r *Recipe) Select(p Platform) (*Selection, error) {
	for i, m := range r.Manifests {
		if !m.Matches(p) {
			continue
		}
		l, err := r.lifecycleFor(i)
		if err != nil {
			return nil, err
		}
		platform := make(map[string]string, len(m.Platform))
		for k, v := range m.Platform {
			platform[k] = v
		}
		return &Selection{
			ManifestIndex: i,
			ManifestName:  m.DisplayName(),
			Platform:      platform,
			Lifecycle:     l,
			Artifacts:     append([]Artifact(nil), m.Artifacts...),
		}, nil
	}
	tried := make([]string, len(r.Manifests))
	for i, m := range r.Manifests {
		tried[i] = fmt.Sprintf("Manifests[%d] (%s)", i, m.DisplayName())
	}
	list := "none (the recipe has no manifests)"
	if len(tried) > 0 {
		list = strings.Join(tried, ", ")
	}
	return nil, &FieldError{
		File: r.File,
		Path: "Manifests",
		Msg: fmt.Sprintf("component %s %s has no manifest for platform %s; tried %s; add a manifest for this platform, or one without Platform to match every device",
			r.Name, r.Version, p.String(), list),
		Err: ErrNoMatchingManifest,
	}
}

// DisplayName returns the manifest's Name, or its platform requirements when
// it has no Name ("any platform" when it has none).
func (m Manifest) DisplayName() string {
	if m.Name != "" {
		return m.Name
	}
	if len(m.Platform) == 0 {
		return "any platform"
	}
	return m.Platform.String()
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
