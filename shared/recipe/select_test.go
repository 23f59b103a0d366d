package recipe

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func parse(t *testing.T, doc string) *Recipe {
	t.Helper()
	r, err := Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

const header = "RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.Select\nComponentVersion: '1.0.0'\n"

func TestSelectPicksTheFirstMatchingManifest(t *testing.T) {
	r := parse(t, header+`
Manifests:
  - Name: exact
    Platform: {os: linux, architecture: aarch64}
    Lifecycle: {Run: exact}
  - Name: regex
    Platform: {os: linux, architecture: /arm|aarch64|amd64/}
    Lifecycle: {Run: regex}
  - Name: detail
    Platform: {os: linux, architecture.detail: arm71}
    Lifecycle: {Run: detail}
  - Name: star
    Platform: {os: linux, architecture: '*'}
    Lifecycle: {Run: star}
  - Name: has-any
    Platform: {os: '//', com.example.board: '//'}
    Lifecycle: {Run: has-any}
  - Name: anything
    Lifecycle: {Run: anything}
`)
	tests := []struct {
		platform Platform
		want     string
	}{
		{Platform{KeyOS: "linux", KeyArchitecture: "aarch64"}, "exact"}, // also matches regex and star: first wins
		{Platform{KeyOS: "linux", KeyArchitecture: "amd64"}, "regex"},
		{Platform{KeyOS: "linux", KeyArchitecture: "armv7"}, "star"}, // regex is anchored: arm does not match armv7
		{Platform{KeyOS: "linux", KeyArchitecture: "riscv64", KeyArchitectureDetail: "arm71"}, "detail"},
		{Platform{KeyOS: "linux"}, "star"}, // * matches a missing key
		{Platform{KeyOS: "windows", "com.example.board": "pi5"}, "has-any"},
		{Platform{KeyOS: "windows"}, "anything"}, // // needs the key present
		{Platform{}, "anything"},
	}
	for _, tt := range tests {
		s, err := r.Select(tt.platform)
		if err != nil {
			t.Errorf("Select(%s): %v", tt.platform, err)
			continue
		}
		if s.ManifestName != tt.want || script(s.Lifecycle.Run) != tt.want {
			t.Errorf("Select(%s) = %s (run %q), want %s", tt.platform, s.ManifestName, script(s.Lifecycle.Run), tt.want)
		}
	}
}

func TestSelectTreatsAllAndAnyAsWildcardsThatMatchMissingKeys(t *testing.T) {
	for _, wildcard := range []string{"all", "any", "'*'"} {
		r := parse(t, header+"Manifests:\n  - Platform: {os: linux, architecture: "+wildcard+", architecture.detail: "+wildcard+"}\n    Lifecycle: {Run: x}\n")
		for _, p := range []Platform{{KeyOS: "linux"}, {KeyOS: "linux", KeyArchitecture: "arm", KeyArchitectureDetail: "arm61"}} {
			if _, err := r.Select(p); err != nil {
				t.Errorf("%s with %s: %v", wildcard, p, err)
			}
		}
	}
}

func TestSelectWithoutMatchNamesPlatformAndManifestsTried(t *testing.T) {
	r := parse(t, header+`
Manifests:
  - Name: Windows build
    Platform: {os: windows}
    Lifecycle: {Run: x.exe}
  - Platform: {os: darwin, architecture: aarch64}
    Lifecycle: {Run: ./x}
`)
	_, err := r.Select(Platform{KeyOS: "linux", KeyArchitecture: "aarch64", "zone": "b"})
	if !errors.Is(err, ErrNoMatchingManifest) {
		t.Fatalf("got %v, want ErrNoMatchingManifest", err)
	}
	for _, want := range []string{
		"test.yaml: Manifests: component com.example.Select 1.0.0 has no manifest for platform os=linux,architecture=aarch64,zone=b",
		"tried Manifests[0] (Windows build), Manifests[1] (os=darwin,architecture=aarch64)",
		"add a manifest for this platform, or one without Platform",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	_, err = (&Recipe{File: "hand.yaml", Name: "x", Version: "1.0.0"}).Select(HostPlatform())
	if !errors.Is(err, ErrNoMatchingManifest) || !strings.Contains(err.Error(), "none (the recipe has no manifests)") {
		t.Errorf("no manifests: %v", err)
	}
}

func TestSelectUsesManifestLifecycleOverGlobal(t *testing.T) {
	r := parse(t, header+`
Manifests:
  - Platform: {os: linux}
    Selections: [linux]
    Lifecycle: {Run: own}
  - Selections: [linux]
Lifecycle:
  linux: {Run: global}
`)
	if s := mustSelect(t, r, Platform{KeyOS: "linux"}); script(s.Lifecycle.Run) != "own" {
		t.Errorf("manifest lifecycle must win, got %q", script(s.Lifecycle.Run))
	}
	if s := mustSelect(t, r, Platform{KeyOS: "windows"}); script(s.Lifecycle.Run) != "global" {
		t.Errorf("global by selection, got %q", script(s.Lifecycle.Run))
	}
}

func TestSelectDropsGlobalSectionsTheManifestDoesNotSelect(t *testing.T) {
	r := parse(t, header+`
Manifests:
  - Platform: {os: linux}
    Selections: [linux]
  - Platform: {os: windows}
    Selections: [windows]
Lifecycle:
  Install:
    Script:
      linux: ./install.sh
  Run:
    Script:
      linux: ./run
      windows: run.exe
`)
	s := mustSelect(t, r, Platform{KeyOS: "windows"})
	if s.Lifecycle.Install != nil || script(s.Lifecycle.Run) != "run.exe" {
		t.Errorf("windows: install %v run %q; Install has no windows script and must vanish", s.Lifecycle.Install, script(s.Lifecycle.Run))
	}
}

func TestSelectReturnsCopiesCallersMayChange(t *testing.T) {
	r := parse(t, header+"Manifests:\n  - Platform: {os: linux}\n    Lifecycle: {Run: x}\n    Artifacts: [{URI: 's3://b/k'}]\n")
	s := mustSelect(t, r, Platform{KeyOS: "linux"})
	s.Platform["os"] = "changed"
	s.Artifacts[0].URI = "changed"
	if r.Manifests[0].Platform["os"] != "linux" || r.Manifests[0].Artifacts[0].URI != "s3://b/k" {
		t.Errorf("Select shares state with the recipe: %+v", r.Manifests[0])
	}
}

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in      string
		want    Platform
		wantErr string
	}{
		{"os=linux,architecture=aarch64", Platform{KeyOS: "linux", KeyArchitecture: "aarch64"}, ""},
		{" os = linux , architecture.detail=arm71 ", Platform{KeyOS: "linux", KeyArchitectureDetail: "arm71"}, ""},
		{"com.example.radio=lora", Platform{"com.example.radio": "lora"}, ""},
		{"k=a=b", Platform{"k": "a=b"}, ""},
		{"", nil, "platform is empty; write key=value pairs separated by commas, such as os=linux,architecture=aarch64"},
		{"os=linux,,architecture=arm", nil, "has an empty entry"},
		{"linux", nil, `platform entry "linux" has no '='; write key=value such as os=linux`},
		{"os=", nil, `platform entry "os=" needs both a key and a value`},
		{"=linux", nil, "needs both a key and a value"},
		{"os=linux,os=windows", nil, `platform key "os" is given twice`},
		{"os=red hat", nil, "contains a space"},
	}
	for _, tt := range tests {
		got, err := ParsePlatform(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePlatform(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want.String() || len(got) != len(tt.want) {
			t.Errorf("ParsePlatform(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestPlatformStringRoundTripsThroughParsePlatform(t *testing.T) {
	p := Platform{"zeta": "1", KeyArchitectureDetail: "arm71", KeyOS: "linux", "alpha": "2", KeyArchitecture: "arm"}
	if got, want := p.String(), "os=linux,architecture=arm,architecture.detail=arm71,alpha=2,zeta=1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	back, err := ParsePlatform(p.String())
	if err != nil || back.String() != p.String() {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestHostPlatformUsesGreengrassSpelling(t *testing.T) {
	p := HostPlatform()
	if p[KeyOS] != runtime.GOOS {
		t.Errorf("os = %q, want %q", p[KeyOS], runtime.GOOS)
	}
	want := map[string]string{"amd64": "amd64", "arm64": "aarch64", "arm": "arm", "386": "x86"}[runtime.GOARCH]
	if want != "" && p[KeyArchitecture] != want {
		t.Errorf("architecture = %q, want %q", p[KeyArchitecture], want)
	}
	for goarch, gg := range map[string]string{"amd64": "amd64", "arm64": "aarch64", "arm": "arm", "386": "x86", "riscv64": "riscv64"} {
		if got := greengrassArch(goarch); got != gg {
			t.Errorf("greengrassArch(%s) = %s, want %s", goarch, got, gg)
		}
	}
}

func TestArchitectureDetailIsTheARMMachineNameAsTheNucleusReportsIt(t *testing.T) {
	tests := []struct{ machine, want string }{
		{"armv7l", "armv7l"}, // 32-bit Raspberry Pi OS
		{"armv6l", "armv6l"},
		{"armv8l", "armv8l"}, // 32-bit userland on a 64-bit core
		{"armv7b", "armv7b"},
		{"ARMv7L\n", "armv7l"},
		{"aarch64", ""}, // 64-bit ARM: architecture says it all
		{"x86_64", ""},
		{"armv5tel", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := armDetail(tt.machine); got != tt.want {
			t.Errorf("armDetail(%q) = %q, want %q", tt.machine, got, tt.want)
		}
	}
}

func TestOverrideAddsAndReplacesDetectedAttributesAsPlatformOverrideDoes(t *testing.T) {
	detected := Platform{KeyOS: "linux", KeyArchitecture: "arm", KeyArchitectureDetail: "armv7l"}
	tests := []struct {
		name      string
		overrides Platform
		want      string
	}{
		{"a custom key is added", Platform{"npu": "rknn"}, "os=linux,architecture=arm,architecture.detail=armv7l,npu=rknn"},
		{"a detected key is replaced", Platform{KeyArchitecture: "aarch64"}, "os=linux,architecture=aarch64,architecture.detail=armv7l"},
		{"both at once", Platform{KeyOS: "linux", "com.example.radio": "lora"}, "os=linux,architecture=arm,architecture.detail=armv7l,com.example.radio=lora"},
		{"no overrides", nil, "os=linux,architecture=arm,architecture.detail=armv7l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detected.Override(tt.overrides).String(); got != tt.want {
				t.Errorf("Override(%v) = %s, want %s", tt.overrides, got, tt.want)
			}
			if len(detected) != 3 || detected[KeyArchitecture] != "arm" {
				t.Errorf("Override changed the detected platform: %v", detected)
			}
		})
	}
}
