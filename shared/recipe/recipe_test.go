package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
)

var (
	linuxAMD64 = Platform{KeyOS: "linux", KeyArchitecture: "amd64"}
	linuxARM64 = Platform{KeyOS: "linux", KeyArchitecture: "aarch64"}
	windows    = Platform{KeyOS: "windows", KeyArchitecture: "amd64"}
	darwin     = Platform{KeyOS: "darwin", KeyArchitecture: "aarch64"}
)

func mustParseFile(t *testing.T, path string) *Recipe {
	t.Helper()
	r, err := ParseFile(path)
	if err != nil {
		t.Fatalf("ParseFile(%s): %v", path, err)
	}
	return r
}

func mustSelect(t *testing.T, r *Recipe, p Platform) *Selection {
	t.Helper()
	s, err := r.Select(p)
	if err != nil {
		t.Fatalf("Select(%s): %v", p, err)
	}
	return s
}

func script(s *Step) string {
	if s == nil {
		return "<nil>"
	}
	return s.Script
}

func TestEveryValidRecipeParsesAndSelectsOnLinux(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*")
	if len(files) < 15 {
		t.Fatalf("valid corpus has %d recipes, want at least 15", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := mustParseFile(t, file)
			if r.FormatVersion != FormatVersion || r.Name == "" || r.SemVer() == nil {
				t.Errorf("recipe header not filled: format %q name %q version %q", r.FormatVersion, r.Name, r.Version)
			}
			if r.DefaultConfiguration == nil || r.Dependencies == nil {
				t.Errorf("DefaultConfiguration and Dependencies must never be nil")
			}
			mustSelect(t, r, linuxAMD64)
		})
	}
}

func TestValidRecipesMeanWhatTheySay(t *testing.T) {
	tests := []struct {
		file     string
		platform Platform
		check    func(t *testing.T, r *Recipe, s *Selection)
	}{
		{"hello_world.yaml", windows, func(t *testing.T, r *Recipe, s *Selection) {
			if s.ManifestIndex != 1 || !strings.HasPrefix(script(s.Lifecycle.Run), "py -3") {
				t.Errorf("windows got manifest %d run %q", s.ManifestIndex, script(s.Lifecycle.Run))
			}
			if r.DefaultConfiguration["Message"] != "world" || r.Publisher != "Amazon" || r.Type != TypeGeneric {
				t.Errorf("header: config %v publisher %q type %q", r.DefaultConfiguration, r.Publisher, r.Type)
			}
		}},
		{"hello_world.json", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if got := r.DefaultConfiguration["Port"]; got != float64(8080) {
				t.Errorf("Port = %#v, want float64 8080 as encoding/json gives", got)
			}
			want := []any{float64(1), "two", true}
			if got := r.DefaultConfiguration["Nested"].(map[string]any)["List"]; !reflect.DeepEqual(got, want) {
				t.Errorf("Nested.List = %#v, want %#v", got, want)
			}
		}},
		{"lowercase_keys.yaml", linuxARM64, func(t *testing.T, r *Recipe, s *Selection) {
			l := s.Lifecycle
			if l.Install == nil || l.Install.Timeout != 300*time.Second || l.Run == nil || l.Run.Setenv["PYTHONUNBUFFERED"] != "1" {
				t.Errorf("lower-case step fields lost: %+v %+v", l.Install, l.Run)
			}
			if l.Setenv["INTERVAL"] != "{configuration:/interval}" {
				t.Errorf("lifecycle setEnv lost: %v", l.Setenv)
			}
			if len(s.Artifacts) != 2 || s.Artifacts[1].Permission.Read != PermAll || s.Artifacts[0].Permission != (Permission{PermOwner, PermNone}) {
				t.Errorf("artifacts: %+v", s.Artifacts)
			}
			if d := r.Dependencies["aws.greengrass.TokenExchangeService"]; d.Type != Hard || d.VersionRequirement != "^2.0.0" {
				t.Errorf("dependency: %+v", d)
			}
			if s.ManifestName != "Linux" {
				t.Errorf("ManifestName = %q", s.ManifestName)
			}
		}},
		{"global_top_selection.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if script(s.Lifecycle.Run) != "python3 app.py" || s.Lifecycle.Install == nil || *s.Lifecycle.Install.Skipif != (Skipif{SkipOnPath, "python3"}) {
				t.Errorf("linux selection: %+v", s.Lifecycle)
			}
			if w := mustSelect(t, r, windows); script(w.Lifecycle.Run) != "py -3 app.py" || w.Lifecycle.Install != nil {
				t.Errorf("windows selection: run %q install %v", script(w.Lifecycle.Run), w.Lifecycle.Install)
			}
			if d := mustSelect(t, r, darwin); script(d.Lifecycle.Run) != "./app" {
				t.Errorf("a manifest without Selections picks `all`: run %q", script(d.Lifecycle.Run))
			}
		}},
		{"global_bottom_selection.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if script(s.Lifecycle.Install) != "./install.sh" || script(s.Lifecycle.Run) != "./run-linux" || s.Lifecycle.Install.Timeout != 30*time.Second {
				t.Errorf("first selection in the manifest's order wins: %+v", s.Lifecycle)
			}
			if s.Lifecycle.Setenv["MODE"] != "production" {
				t.Errorf("unkeyed sections apply to every manifest: %v", s.Lifecycle.Setenv)
			}
			if o := mustSelect(t, r, windows); script(o.Lifecycle.Run) != "./run-generic" || script(o.Lifecycle.Install) != "echo nothing to install" {
				t.Errorf("`all` sections: %+v", o.Lifecycle)
			}
		}},
		{"global_plain.yaml", linuxARM64, func(t *testing.T, r *Recipe, s *Selection) {
			if s.ManifestIndex != 0 || !s.Lifecycle.Run.RequiresPrivilege || s.Artifacts[0].FileName() != "app-arm64" {
				t.Errorf("got %+v", s)
			}
			if _, err := r.Select(Platform{KeyOS: "linux", KeyArchitecture: "arm"}); !errors.Is(err, ErrNoMatchingManifest) {
				t.Errorf("arm must not match: %v", err)
			}
		}},
		{"platform_all.yaml", Platform{KeyOS: "linux"}, func(t *testing.T, r *Recipe, s *Selection) {
			if script(s.Lifecycle.Run) != "echo everywhere" {
				t.Errorf("run = %q", script(s.Lifecycle.Run))
			}
		}},
		{"regex_platform.yaml", Platform{KeyOS: "linux", KeyArchitecture: "arm"}, func(t *testing.T, r *Recipe, s *Selection) {
			if s.ManifestIndex != 1 {
				t.Errorf("regex must match the whole value: arm picked manifest %d", s.ManifestIndex)
			}
			if d := mustSelect(t, r, darwin); d.ManifestIndex != 0 || d.ManifestName != "64-bit ARM or x86" {
				t.Errorf("darwin/aarch64 picked %d %q", d.ManifestIndex, d.ManifestName)
			}
		}},
		{"dependencies.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if got, want := r.DependencyNames(), []string{"BarService", "BazService", "com.example.Range"}; !reflect.DeepEqual(got, want) {
				t.Errorf("DependencyNames = %v, want %v", got, want)
			}
			if r.Dependencies["BarService"].Type != Soft || r.Dependencies["BazService"].Type != Hard {
				t.Errorf("types: %+v", r.Dependencies)
			}
			if !s.Artifacts[0].Unarchived() || s.Artifacts[1].Unarchived() {
				t.Errorf("unarchive: %+v", s.Artifacts)
			}
		}},
		{"artifacts.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			a := s.Artifacts
			if a[0].Permission != (Permission{PermAll, PermAll}) || !a[0].Unarchived() || a[0].FileName() != "bundle.zip" {
				t.Errorf("artifact 0: %+v", a[0])
			}
			if a[1].Algorithm != AlgorithmSHA256 {
				t.Errorf("Algorithm defaults to SHA-256 when Digest is set, got %q", a[1].Algorithm)
			}
			if a[2].Scheme() != SchemeGreengrass || a[2].FileName() != "shared-library.so" || a[2].Algorithm != "" {
				t.Errorf("artifact 2: %+v", a[2])
			}
		}},
		{"docker.json", linuxARM64, func(t *testing.T, r *Recipe, s *Selection) {
			if len(s.Artifacts) != 2 || s.Artifacts[0].Scheme() != SchemeDocker {
				t.Errorf("docker images sharing a last segment are allowed: %+v", s.Artifacts)
			}
		}},
		{"file_artifact.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if s.Artifacts[0].Scheme() != SchemeFile || s.Artifacts[0].FileName() != "sensor" || s.Artifacts[0].Permission.Execute != PermOwner {
				t.Errorf("file artifact: %+v", s.Artifacts[0])
			}
			if s.ManifestName != "any platform" {
				t.Errorf("ManifestName = %q", s.ManifestName)
			}
		}},
		{"unknown_fields.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			joined := strings.Join(r.Warnings, "\n")
			for _, want := range []string{"ComponentVendorNotes: unknown field ignored", "Manifests[0].Lifecycle.Start: unknown field ignored", "Manifests[0].Comment: unknown field ignored"} {
				if !strings.Contains(joined, want) {
					t.Errorf("warnings %q lack %q", joined, want)
				}
			}
			if r.Source == "" || strings.Contains(joined, "ComponentSource: unknown") {
				t.Errorf("ComponentSource is a known field: source %q warnings %q", r.Source, joined)
			}
		}},
		{"step_options.json", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			l := s.Lifecycle
			if !l.Bootstrap.RequiresPrivilege || l.Bootstrap.Timeout != 45*time.Second {
				t.Errorf("string forms of RequiresPrivilege and Timeout: %+v", l.Bootstrap)
			}
			if *l.Install.Skipif != (Skipif{SkipExists, "/opt/app/installed"}) || l.Install.Timeout != 10*time.Minute {
				t.Errorf("install: %+v", l.Install)
			}
			if l.Shutdown.Timeout != 1500*time.Millisecond || script(l.Recover) != "./recover.sh" || !l.Uninstall.RequiresPrivilege {
				t.Errorf("steps: %+v %+v %+v", l.Shutdown, l.Recover, l.Uninstall)
			}
			if env := l.Env(l.Run); env["LEVEL"] != "debug" || env["RETRIES"] != "3" {
				t.Errorf("step Setenv overrides lifecycle Setenv: %v", env)
			}
			if names := l.Steps(); len(names) != 6 || names[0].Name != "Bootstrap" || names[5].Name != "Uninstall" {
				t.Errorf("Steps() = %v", names)
			}
		}},
		{"empty_manifest_lifecycle.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if script(s.Lifecycle.Run) != "./global" {
				t.Errorf("empty manifest Lifecycle must fall back to global: %q", script(s.Lifecycle.Run))
			}
		}},
		{"startup_shutdown.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if s.Lifecycle.Startup == nil || s.Lifecycle.Run != nil || !s.Lifecycle.Shutdown.RequiresPrivilege {
				t.Errorf("lifecycle: %+v", s.Lifecycle)
			}
		}},
		{"anchors.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if script(s.Lifecycle.Run) != "./run-amd64.sh" || s.Lifecycle.Install == nil || s.Lifecycle.Install.Timeout != time.Minute {
				t.Errorf("merge key must bring Install and keep the local Run: %+v", s.Lifecycle)
			}
		}},
		{"prerelease.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if v := r.SemVer(); v.Prerelease() != "beta.1" || v.Metadata() != "build.5" {
				t.Errorf("SemVer = %v", v)
			}
		}},
		{"custom_platform_key.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			if s.ManifestIndex != 1 {
				t.Errorf("a device without the custom key must skip the exact manifest and match `*`: got %d", s.ManifestIndex)
			}
			lora := Platform{KeyOS: "linux", "com.example.radio.RadioModule": "lora"}
			if s := mustSelect(t, r, lora); s.ManifestName != "LoRa boards" {
				t.Errorf("lora device picked %q", s.ManifestName)
			}
		}},
		{"labs_style.yaml", darwin, func(t *testing.T, r *Recipe, s *Selection) {
			if s.Lifecycle.Startup == nil || s.Lifecycle.Install == nil || s.Lifecycle.Shutdown == nil {
				t.Errorf("lifecycle: %+v", s.Lifecycle)
			}
			run := s.Lifecycle.Interpolate(&Vars{Config: r.DefaultConfiguration}).Startup.Script
			if run != "docker start example" {
				t.Errorf("interpolated startup = %q", run)
			}
		}},
		{"emqx_style.yaml", linuxAMD64, func(t *testing.T, r *Recipe, s *Selection) {
			run, install := s.Lifecycle.Run, s.Lifecycle.Install
			if run.RequiresPrivilegeVar != "{configuration:/requiresPrivilege}" || run.RequiresPrivilege {
				t.Errorf("run step: RequiresPrivilegeVar %q, RequiresPrivilege %t before Resolve", run.RequiresPrivilegeVar, run.RequiresPrivilege)
			}
			if install.TimeoutVar != "{configuration:/startupTimeoutSeconds}" || install.Timeout != 0 {
				t.Errorf("install step: TimeoutVar %q, Timeout %v before Resolve", install.TimeoutVar, install.Timeout)
			}
			l, err := s.Lifecycle.Resolve(&Vars{Config: r.DefaultConfiguration})
			if err != nil || !l.Run.RequiresPrivilege || l.Install.Timeout != 300*time.Second {
				t.Errorf("resolved with the defaults: run privileged %t, install timeout %v, %v", l.Run.RequiresPrivilege, l.Install.Timeout, err)
			}
		}},
		{"flow_style.yaml", windows, func(t *testing.T, r *Recipe, s *Selection) {
			// Starts with '{' and has trailing commas: YAML because of its extension.
			if r.Name != "com.example.FlowStyle" || r.DefaultConfiguration["Message"] != "world" || !strings.HasPrefix(script(s.Lifecycle.Run), "py -3 -u") {
				t.Errorf("flow-style recipe read as %+v, run %q", r, script(s.Lifecycle.Run))
			}
		}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			r := mustParseFile(t, filepath.Join("testdata/valid", tt.file))
			tt.check(t, r, mustSelect(t, r, tt.platform))
		})
	}
	files, _ := filepath.Glob("testdata/valid/*")
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no entry in this table; say what it must mean", f)
		}
	}
}

func TestInvalidRecipesAreRefusedNamingFileFieldAndFix(t *testing.T) {
	tests := map[string][]string{
		"not_object.yaml":                 {"not_object.yaml: the recipe is a list, not an object; write fields like RecipeFormatVersion"},
		"bad_yaml.yaml":                   {"bad_yaml.yaml: invalid YAML: line ", "fix the YAML syntax"},
		"bad_json.json":                   {"bad_json.json: invalid JSON at line 5 column 1", "fix the JSON syntax"},
		"empty.yaml":                      {"empty.yaml: recipe is empty (only comments or null); write a YAML or JSON object"},
		"missing_format.yaml":             {"missing_format.yaml: RecipeFormatVersion: is missing; add RecipeFormatVersion: 2020-01-25"},
		"wrong_format.yaml":               {`wrong_format.yaml: RecipeFormatVersion: is the text "2021-01-01"; the only supported format is 2020-01-25`},
		"name_characters.yaml":            {`name_characters.yaml: ComponentName: "com example/Bad" has characters Greengrass refuses; use only letters, digits, '.', '-' and '_'`},
		"name_too_long.yaml":              {"name_too_long.yaml: ComponentName: is 129 characters long; Greengrass allows at most 128"},
		"name_dot_dot.yaml":               {`name_dot_dot.yaml: ComponentName: ".." is not a name but a path; give the component a name such as com.example.MyComponent`},
		"configuration_deep.json":         {"configuration_deep.json: ComponentConfiguration.DefaultConfiguration: nests 2500 objects deep; configurations are at most 32 deep, flatten it"},
		"version_two_parts.yaml":          {`version_two_parts.yaml: ComponentVersion: "1.0" is not a semantic version`, "write MAJOR.MINOR.PATCH such as 1.0.0"},
		"version_v_prefix.yaml":           {`version_v_prefix.yaml: ComponentVersion: "v1.0.0" is not a semantic version`},
		"version_seven_digits.yaml":       {`version_seven_digits.yaml: ComponentVersion: "1000000.0.0" has a number over 999999; Greengrass allows at most six digits`},
		"missing_manifests.yaml":          {"missing_manifests.yaml: Manifests: is missing; add at least one manifest (a manifest without Platform matches every device)"},
		"depends_on_itself.yaml":          {"depends_on_itself.yaml: ComponentDependencies[com.example.Loop]: is the component itself; a component cannot depend on itself", "remove this dependency"},
		"null_manifest.yaml":              {"null_manifest.yaml: Manifests[1]: is empty (null); remove the empty list item"},
		"startup_and_run.yaml":            {"startup_and_run.yaml: Manifests[0].Lifecycle: has both Startup and Run; keep Startup for a command that starts a background process"},
		"timeout_not_number.yaml":         {`timeout_not_number.yaml: Manifests[1].Lifecycle.Run.Timeout: is the text "soon"; write a number of seconds such as 60`},
		"timeout_negative.json":           {"timeout_negative.json: Manifests[0].Lifecycle.Install.Timeout: is negative; write a number of seconds"},
		"skipif_unknown.yaml":             {"skipif_unknown.yaml: Manifests[0].Lifecycle.Install.Skipif: \"whenever python3\" is not a skip check; write `onpath <executable>` or `exists <file>`"},
		"privilege_not_bool.yaml":         {`privilege_not_bool.yaml: Manifests[0].Lifecycle.Run.RequiresPrivilege: is the text "sometimes"; write true or false`},
		"script_missing.yaml":             {"script_missing.yaml: Manifests[0].Lifecycle.Install.Script: is missing; add Script with the command to run, or remove the step"},
		"setenv_nested.yaml":              {"setenv_nested.yaml: Manifests[0].Lifecycle.Setenv.NESTED: is an object; an environment variable value must be text"},
		"uri_scheme.yaml":                 {`uri_scheme.yaml: Manifests[0].Artifacts[0].URI: scheme "https" is not supported; use s3://bucket/key, or file: for local development`},
		"uri_s3_malformed.yaml":           {`uri_s3_malformed.yaml: Manifests[0].Artifacts[0].URI: "s3:bucket/app.zip" is not a valid s3 URI; write s3://bucket/path/to/file`},
		"artifact_names_clash.yaml":       {`artifact_names_clash.yaml: Manifests[0].Artifacts[1].URI: has file name "app.zip" like Manifests[0].Artifacts[0]; artifact file names must be unique within a manifest`},
		"unarchive_tar.yaml":              {`unarchive_tar.yaml: Manifests[0].Artifacts[0].Unarchive: "TAR" is not an archive type; use NONE or ZIP`},
		"permission_unknown.yaml":         {`permission_unknown.yaml: Manifests[0].Artifacts[0].Permission.Execute: "EVERYONE" is not a permission; use NONE, OWNER or ALL`},
		"digest_not_base64.yaml":          {"digest_not_base64.yaml: Manifests[0].Artifacts[0].Digest: is not a base64 SHA-256 digest (32 bytes); write base64 of the file's hash"},
		"dependency_range.yaml":           {`dependency_range.yaml: ComponentDependencies[com.example.Lib].VersionRequirement: "latest" is not a version range`, "write an npm-style range such as ^1.0.0"},
		"dependency_type.yaml":            {`dependency_type.yaml: ComponentDependencies[com.example.Lib].DependencyType: "OPTIONAL" is not a dependency type; use HARD`},
		"dependency_no_requirement.yaml":  {"dependency_no_requirement.yaml: ComponentDependencies[com.example.Lib].VersionRequirement: is missing; add a version range such as ^1.0.0"},
		"platform_regex.yaml":             {`platform_regex.yaml: Manifests[0].Platform.os: "/lin(?=ux)/" is not a valid regular expression`, "Go RE2 syntax"},
		"platform_value.yaml":             {`platform_value.yaml: Manifests[0].Platform.os: "-linux" is not a platform value; write an exact value starting with a letter or digit, * (any value) or /regex/`},
		"global_startup_and_run.yaml":     {"global_startup_and_run.yaml: Lifecycle: has both Startup and Run", "(global lifecycle as selected by Manifests[0] with Selections [linux])"},
		"global_selection_not_steps.yaml": {`global_selection_not_steps.yaml: Lifecycle: selects the text "./run"; a selection key above the steps must hold an object of steps such as Run`},
		"duplicate_case_keys.yaml":        {`duplicate_case_keys.yaml: Manifests[0].Lifecycle.run: is given twice, as "Run" and "run" (field names are not case-sensitive); keep one`},
		"component_type.yaml":             {`component_type.yaml: ComponentType: "aws.greengrass.docker" is not a component type; use one of aws.greengrass.generic`},
		"configuration_list.yaml":         {"configuration_list.yaml: ComponentConfiguration.DefaultConfiguration: is a list; it must be an object of configuration keys"},
		"configuration_infinite.yaml":     {"configuration_infinite.yaml: ComponentConfiguration.DefaultConfiguration.limit: .inf is not a finite number"},
		"step_number.yaml":                {"step_number.yaml: Manifests[0].Lifecycle.Run: is the number 42; write the script as text, or an object with Script"},
		"alias_bomb.yaml":                 {"alias_bomb.yaml: invalid YAML: the recipe expands to more than 65536 values"},
		"many_errors.yaml": {
			`many_errors.yaml: ComponentVersion: "1.0" is not a semantic version`,
			`many_errors.yaml: Manifests[0].Lifecycle.Run.Timeout: is the text "later"`,
			`many_errors.yaml: Manifests[0].Artifacts[0].URI: scheme "ftp" is not supported`,
		},
	}
	files, _ := filepath.Glob("testdata/invalid/*")
	if len(files) < 25 {
		t.Fatalf("invalid corpus has %d recipes, want at least 25", len(files))
	}
	for _, file := range files {
		name := filepath.Base(file)
		wants, ok := tests[name]
		if !ok {
			t.Errorf("%s has no expected error in this table", file)
			continue
		}
		t.Run(name, func(t *testing.T) {
			r, err := ParseFile(file)
			if err == nil {
				t.Fatalf("ParseFile accepted it: %+v", r)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, want := range wants {
				if !strings.Contains(err.Error(), filepath.Join("testdata/invalid", "")) || !strings.Contains(err.Error(), want) {
					t.Errorf("error\n  %v\nlacks\n  %s", err, want)
				}
			}
		})
	}
	for name := range tests {
		if _, err := os.Stat(filepath.Join("testdata/invalid", name)); err != nil {
			t.Errorf("table names %s, which is not in testdata/invalid", name)
		}
	}
}

func TestParseRefusesRecipesOver16KB(t *testing.T) {
	base := "RecipeFormatVersion: '2020-01-25'\nComponentName: com.example.Big\nComponentVersion: '1.0.0'\nManifests:\n  - Lifecycle:\n      Run: ./r\n# "
	pad := func(total int) []byte {
		return []byte(base + strings.Repeat("x", total-len(base)-1) + "\n")
	}
	if _, err := Parse("exact.yaml", pad(MaxRecipeSize)); err != nil {
		t.Errorf("a recipe of exactly %d bytes must parse: %v", MaxRecipeSize, err)
	}
	_, err := Parse("big.yaml", pad(MaxRecipeSize+1))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big.yaml: recipe is 16385 bytes, over the 16384-byte limit") {
		t.Errorf("got %v, want ErrTooLarge naming the size and the limit", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, pad(100000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(path); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "recipe is 100000 bytes") {
		t.Errorf("ParseFile: got %v, want ErrTooLarge with the file's real size", err)
	}
}

func TestValidateNameFollowsGreengrassLimits(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"com.example.HelloWorld", ""},
		{"a", ""},
		{"aws.greengrass.Nucleus-lite_2", ""},
		{strings.Repeat("n", 128), ""},
		{strings.Repeat("n", 129), "is 129 characters long; Greengrass allows at most 128"},
		{"", "is empty"},
		{"com/example", "has characters Greengrass refuses"},
		{"with space", "has characters Greengrass refuses"},
		{"ünicode", "has characters Greengrass refuses"},
		{".", "is not a name but a path"},
		{"..", "is not a name but a path"},
		{"...", ""},
		{".hidden", ""},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidateName(%q) = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseVersionFollowsGreengrassLimits(t *testing.T) {
	tests := []struct {
		version string
		wantErr string
	}{
		{"1.0.0", ""},
		{"0.0.1", ""},
		{"999999.999999.999999", ""},
		{"1.0.0-rc.1", ""},
		{"1.0.0+build.7", ""},
		{"1.0.0-" + strings.Repeat("a", 58), ""},
		{"1.0.0-" + strings.Repeat("a", 59), "is 65 characters long; Greengrass allows at most 64"},
		{"1000000.0.0", "has a number over 999999"},
		{"1.0", "is not a semantic version"},
		{"1", "is not a semantic version"},
		{"v1.0.0", "is not a semantic version"},
		{"01.0.0", "is not a semantic version"},
		{"1.0.0-", "is not a semantic version"},
		{"", "is not a semantic version"},
	}
	for _, tt := range tests {
		_, err := ParseVersion(tt.version)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseVersion(%q) = %v, want %q", tt.version, err, tt.wantErr)
		}
	}
}

func TestDependencyAllowsNpmStyleRanges(t *testing.T) {
	tests := []struct {
		requirement, version string
		want                 bool
	}{
		{"^1.1.0", "1.9.3", true},
		{"^1.1.0", "2.0.0", false},
		{"~2.0.0", "2.0.9", true},
		{"~2.0.0", "2.1.0", false},
		{">=1.0.0 <2.0.0", "1.5.0", true},
		{">=1.0.0 <2.0.0", "2.0.0", false},
		{"1.x || >=3.0.0", "3.1.0", true},
		{"1.0.0", "1.0.0", true},
		{"1.0.0", "1.0.1", false},
		{"*", "7.0.0", true},
		{"^1.0.0", "1.2.0-beta", false}, // npm: prereleases only when the range names one
		{">=1.0.0-alpha", "1.0.0-beta", true},
		{"not a range", "1.0.0", false},
	}
	for _, tt := range tests {
		d := Dependency{VersionRequirement: tt.requirement}
		if got := d.Allows(semver.MustParse(tt.version)); got != tt.want {
			t.Errorf("%q allows %s = %v, want %v", tt.requirement, tt.version, got, tt.want)
		}
	}
	if (Dependency{VersionRequirement: "*"}).Allows(nil) {
		t.Error("a nil version must not be allowed")
	}
}

func TestArtifactFileNameIsTheLastURISegment(t *testing.T) {
	tests := map[string]string{
		"s3://bucket/a/b/app.zip":          "app.zip",
		"greengrass:lib.so":                "lib.so",
		"file:/home/dev/bin/sensor":        "sensor",
		"file://relative/config.json":      "config.json",
		"docker:public.ecr.aws/hello:1.0":  "hello:1.0",
		"s3://bucket/trailing/slash/name/": "name",
	}
	for uri, want := range tests {
		if got := (Artifact{URI: uri}).FileName(); got != want {
			t.Errorf("FileName(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestArtifactLocalPathIsSetOnlyForFileURIs(t *testing.T) {
	tests := map[string]string{
		"file:/home/dev/sensor":   "/home/dev/sensor",
		"file:///home/dev/sensor": "/home/dev/sensor",
		"file:build/sensor":       "build/sensor",
		"FILE://build/sensor":     "build/sensor",
		"s3://bucket/sensor":      "",
	}
	for uri, want := range tests {
		if got := (Artifact{URI: uri}).LocalPath(); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestUnusedGlobalLifecycleIsReportedAsAWarning(t *testing.T) {
	r, err := Parse("unused.yaml", []byte("RecipeFormatVersion: '2020-01-25'\nComponentName: a\nComponentVersion: '1.0.0'\nManifests: [{Lifecycle: {Run: own}}]\nLifecycle: {Run: global}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unused.yaml: Lifecycle: ignored: every manifest has its own Lifecycle") {
		t.Errorf("warnings = %q", r.Warnings)
	}
}

func TestParseChoosesTheParserByExtensionAndSniffsOnlyWithoutOne(t *testing.T) {
	const (
		jsonDoc = `{"RecipeFormatVersion":"2020-01-25","ComponentName":"a","ComponentVersion":"1.0.0","Manifests":[{"Lifecycle":{"Run":"x"}}]}`
		// YAML flow style: starts like JSON, but unquoted and with trailing commas.
		flowDoc  = "{RecipeFormatVersion: '2020-01-25', ComponentName: a, ComponentVersion: '1.0.0', Manifests: [{Lifecycle: {Run: x,},},],}"
		blockDoc = "RecipeFormatVersion: '2020-01-25'\nComponentName: a\nComponentVersion: '1.0.0'\nManifests: [{Lifecycle: {Run: x}}]\n"
	)
	tests := []struct {
		name, file, data string
		wantErr          string
	}{
		{"json file", "r.json", jsonDoc, ""},
		{"json file in capitals", "r.JSON", jsonDoc, ""},
		{"json file with BOM and blank lines", "r.json", "\ufeff  \n" + jsonDoc, ""},
		{"yaml file holding JSON (YAML reads JSON)", "r.yaml", jsonDoc, ""},
		{"yaml file in flow style with trailing commas", "r.yaml", flowDoc, ""},
		{"yml file in flow style with trailing commas", "r.YML", flowDoc, ""},
		{"yaml file in block style", "r.yaml", blockDoc, ""},
		{"inline JSON is sniffed", "no-extension", "\ufeff  \n" + jsonDoc, ""},
		{"inline YAML is sniffed", "inline", blockDoc, ""},
		{"inline flow YAML is taken for JSON", "inline", flowDoc, "inline: invalid JSON"},
		{"YAML in a json file is bad JSON", "r.json", blockDoc, "r.json: invalid JSON"},
		{"flow YAML in a json file is bad JSON", "r.json", flowDoc, "r.json: invalid JSON"},
		{"trailing JSON", "r.json", jsonDoc + ` {"second": 1}`, "unexpected data after the top-level object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.file, []byte(tt.data))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%s): %v", tt.file, err)
				}
				if r.Name != "a" || r.Manifests[0].Lifecycle.Run.Script != "x" {
					t.Errorf("Parse(%s) = %+v", tt.file, r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%s) error = %v, want %q", tt.file, err, tt.wantErr)
			}
		})
	}
}
