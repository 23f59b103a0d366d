package recipe

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testVars(t *testing.T) *Vars {
	t.Helper()
	var config any
	err := json.Unmarshal([]byte(`{
		"Message": "hello world",
		"port": 8080,
		"ratio": 0.25,
		"debug": false,
		"nothing": null,
		"server": {"host": "localhost", "ports": [1883, 8883]},
		"list": ["a", {"b": 1}],
		"a/b": "slash",
		"m~n": "tilde",
		"": "empty key"
	}`), &config)
	if err != nil {
		t.Fatal(err)
	}
	return &Vars{
		Config:           config,
		ArtifactsPath:    "/root/packages/artifacts/com.example.X/1.0.0",
		DecompressedPath: "/root/packages/artifacts-unarchived/com.example.X/1.0.0",
		WorkPath:         "/root/work/com.example.X",
		KernelRootPath:   "/root",
		ThingName:        "pi-kitchen",
		Deps: map[string]*Vars{
			"com.example.Broker": {
				Config:           map[string]any{"port": float64(1883)},
				ArtifactsPath:    "/root/packages/artifacts/com.example.Broker/2.0.0",
				DecompressedPath: "/root/packages/artifacts-unarchived/com.example.Broker/2.0.0",
				WorkPath:         "/root/work/com.example.Broker",
			},
		},
	}
}

func TestInterpolate(t *testing.T) {
	v := testVars(t)
	tests := []struct{ in, want string }{
		{"echo {configuration:/Message}", "echo hello world"},
		{"--port {configuration:/port}", "--port 8080"},
		{"{configuration:/ratio} {configuration:/debug} {configuration:/nothing}", "0.25 false null"},
		{"{configuration:/server}", `{"host":"localhost","ports":[1883,8883]}`},
		{"{configuration:/server/ports}", "[1883,8883]"},
		{"{configuration:/server/ports/1}", "8883"},
		{"{configuration:/list/1/b}", "1"},
		{"{configuration:/a~1b} {configuration:/m~0n} {configuration:/}", "slash tilde empty key"},
		{"{artifacts:path}/app.py", "/root/packages/artifacts/com.example.X/1.0.0/app.py"},
		{"{artifacts:decompressedPath}/bundle", "/root/packages/artifacts-unarchived/com.example.X/1.0.0/bundle"},
		{"cd {work:path} && {kernel:rootPath}/bin/x --thing {iot:thingName}", "cd /root/work/com.example.X && /root/bin/x --thing pi-kitchen"},
		{"{com.example.Broker:configuration:/port}", "1883"},
		{"{com.example.Broker:artifacts:path}/x", "/root/packages/artifacts/com.example.Broker/2.0.0/x"},
		{"{com.example.Broker:artifacts:decompressedPath}", "/root/packages/artifacts-unarchived/com.example.Broker/2.0.0"},
		{"{com.example.Broker:work:path}", "/root/work/com.example.Broker"},
		// Left as written:
		{"{configuration:/missing}", "{configuration:/missing}"},
		{"{configuration:/server/ports/2}", "{configuration:/server/ports/2}"},
		{"{configuration:/server/ports/01}", "{configuration:/server/ports/01}"},
		{"{configuration:/Message/deeper}", "{configuration:/Message/deeper}"},
		{"{configuration:Message}", "{configuration:Message}"},
		{"{com.example.Unknown:configuration:/port}", "{com.example.Unknown:configuration:/port}"},
		{"{com.example.Broker:kernel:rootPath}", "{com.example.Broker:kernel:rootPath}"},
		{"{com.example.Broker:configuration:/nope}", "{com.example.Broker:configuration:/nope}"},
		{"{unknown:thing}", "{unknown:thing}"},
		{"awk '{print $1}'", "awk '{print $1}'"},
		{"${HOME} {", "${HOME} {"},
		{"{{configuration:/port}}", "{8080}"},
		{"no variables", "no variables"},
	}
	for _, tt := range tests {
		if got := Interpolate(tt.in, v); got != tt.want {
			t.Errorf("Interpolate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInterpolateLeavesVariablesWithoutValuesAsWritten(t *testing.T) {
	const s = "{configuration:/x} {artifacts:path} {iot:thingName} {dep:work:path}"
	if got := Interpolate(s, nil); got != s {
		t.Errorf("nil Vars: %q", got)
	}
	if got := Interpolate(s, &Vars{}); got != s {
		t.Errorf("empty Vars: %q", got)
	}
}

func TestLifecycleInterpolateExpandsScriptsSkipifAndSetenvWithoutChangingTheOriginal(t *testing.T) {
	l := Lifecycle{
		Setenv:  map[string]string{"THING": "{iot:thingName}"},
		Install: &Step{Script: "pip install -r {artifacts:path}/req.txt", Skipif: &Skipif{SkipExists, "{work:path}/done"}, Timeout: time.Minute},
		Run:     &Step{Script: "python3 {artifacts:path}/app.py {configuration:/Message}", Setenv: map[string]string{"PORT": "{configuration:/port}"}, RequiresPrivilege: true},
	}
	got := l.Interpolate(testVars(t))
	if got.Setenv["THING"] != "pi-kitchen" || got.Install.Skipif.Arg != "/root/work/com.example.X/done" || got.Run.Setenv["PORT"] != "8080" {
		t.Errorf("not expanded: %+v %+v %+v", got.Setenv, got.Install.Skipif, got.Run.Setenv)
	}
	if got.Run.Script != "python3 /root/packages/artifacts/com.example.X/1.0.0/app.py hello world" || !got.Run.RequiresPrivilege || got.Install.Timeout != time.Minute {
		t.Errorf("run: %+v", got.Run)
	}
	if got.Startup != nil || got.Shutdown != nil {
		t.Errorf("undefined steps must stay nil")
	}
	if l.Setenv["THING"] != "{iot:thingName}" || l.Install.Skipif.Arg != "{work:path}/done" || l.Run.Setenv["PORT"] != "{configuration:/port}" {
		t.Errorf("the original lifecycle changed: %+v", l)
	}
}

func TestPointer(t *testing.T) {
	tree := map[string]any{"a": []any{map[string]any{"b": "c"}}}
	tests := []struct {
		pointer string
		want    any
		ok      bool
	}{
		{"/a/0/b", "c", true},
		{"", tree, true},
		{"/a/-", nil, false},
		{"/a/+0", nil, false},
		{"a", nil, false},
		{"/x", nil, false},
	}
	for _, tt := range tests {
		got, ok := Pointer(tree, tt.pointer)
		if ok != tt.ok || (ok && tt.pointer != "" && got != tt.want) {
			t.Errorf("Pointer(%q) = %v, %v; want %v, %v", tt.pointer, got, ok, tt.want, tt.ok)
		}
	}
}

func TestResolveReadsRequiresPrivilegeAndTimeoutFromConfiguration(t *testing.T) {
	const doc = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Broker
ComponentVersion: '1.0.0'
Manifests:
  - Lifecycle:
      Install:
        Script: ./install
        Timeout: '{configuration:/timeouts/install}'
      Run:
        Script: ./run
        RequiresPrivilege: '{configuration:/requiresPrivilege}'
`
	r, err := Parse("broker.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	sel := mustSelect(t, r, linuxAMD64)
	tests := []struct {
		name       string
		config     map[string]any
		privileged bool
		timeout    time.Duration
		wantErr    string
	}{
		{"boolean and number", map[string]any{"requiresPrivilege": true, "timeouts": map[string]any{"install": float64(30)}}, true, 30 * time.Second, ""},
		{"their text, in any case", map[string]any{"requiresPrivilege": "FALSE", "timeouts": map[string]any{"install": "2.5"}}, false, 2500 * time.Millisecond, ""},
		{"privilege of the wrong type", map[string]any{"requiresPrivilege": "yes", "timeouts": map[string]any{"install": 1.0}}, false, time.Second,
			`Lifecycle.Run.RequiresPrivilege: "{configuration:/requiresPrivilege}" resolves to "yes"; set configuration key /requiresPrivilege to true or false`},
		{"timeout of the wrong type", map[string]any{"requiresPrivilege": false, "timeouts": map[string]any{"install": map[string]any{"s": 1.0}}}, false, 0,
			`Lifecycle.Install.Timeout: "{configuration:/timeouts/install}" resolves to "{\"s\":1}"; set configuration key /timeouts/install to a number of seconds such as 60`},
		{"missing keys name both", map[string]any{}, false, 0,
			`Lifecycle.Run.RequiresPrivilege: "{configuration:/requiresPrivilege}" does not resolve (is the configuration key missing?); set configuration key /requiresPrivilege to true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := sel.Lifecycle.Resolve(&Vars{Config: tt.config})
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnresolved) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve error = %v, want one wrapping ErrUnresolved containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Run.RequiresPrivilege != tt.privileged || l.Install.Timeout != tt.timeout {
				t.Errorf("Resolve: privileged %t timeout %v, want %t %v", l.Run.RequiresPrivilege, l.Install.Timeout, tt.privileged, tt.timeout)
			}
			if sel.Lifecycle.Run.RequiresPrivilege || sel.Lifecycle.Install.Timeout != 0 {
				t.Errorf("Resolve changed the selection it was called on")
			}
		})
	}
}

func TestRequiresPrivilegeAndTimeoutWithoutVariablesAreStillCheckedAtParse(t *testing.T) {
	for _, fv := range [][2]string{
		{"RequiresPrivilege", "'{not a variable'"}, {"RequiresPrivilege", "'{true}'"},
		{"Timeout", "'soon'"}, {"Timeout", "'{60}'"},
	} {
		field, value := fv[0], fv[1]
		doc := "RecipeFormatVersion: '2020-01-25'\nComponentName: a\nComponentVersion: '1.0.0'\nManifests:\n  - Lifecycle:\n      Run:\n        Script: x\n        " + field + ": " + value + "\n"
		_, err := Parse("r.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "Manifests[0].Lifecycle.Run."+field+": is the text") {
			t.Errorf("%s: %s: error %v", field, value, err)
		}
	}
}

func TestInterpolateConfigurationExpandsSystemVariablesOnly(t *testing.T) {
	v := &Vars{
		Config:        map[string]any{"thing": "from-config"},
		ArtifactsPath: "/r/packages/artifacts/a/1.0.0", DecompressedPath: "/r/packages/unarchived/a/1.0.0",
		WorkPath: "/r/work/a", KernelRootPath: "/r", ThingName: "edge-1",
		Deps: map[string]*Vars{"dep": {Config: map[string]any{"port": 1883.0}, ArtifactsPath: "/r/packages/artifacts/dep/2.0.0", WorkPath: "/r/work/dep"}},
	}
	config := map[string]any{
		"dir":     "{work:path}/data",
		"thing":   "{iot:thingName}",
		"n":       1.0,
		"flag":    true,
		"nothing": nil,
		"nested": map[string]any{
			"list":         []any{"{kernel:rootPath}", "{artifacts:path}/model", "{artifacts:decompressedPath}", 2.0},
			"{work:path}":  "keys stay as written",
			"depArtifacts": "{dep:artifacts:path}/bin",
			"depWork":      "{dep:work:path}",
		},
		"ownConfig":   "{configuration:/thing}",
		"depConfig":   "{dep:configuration:/port}",
		"notADep":     "{other:artifacts:path}",
		"notAVarible": "{unknown}",
	}
	want := map[string]any{
		"dir":     "/r/work/a/data",
		"thing":   "edge-1",
		"n":       1.0,
		"flag":    true,
		"nothing": nil,
		"nested": map[string]any{
			"list":         []any{"/r", "/r/packages/artifacts/a/1.0.0/model", "/r/packages/unarchived/a/1.0.0", 2.0},
			"{work:path}":  "keys stay as written",
			"depArtifacts": "/r/packages/artifacts/dep/2.0.0/bin",
			"depWork":      "/r/work/dep",
		},
		"ownConfig":   "{configuration:/thing}",
		"depConfig":   "{dep:configuration:/port}",
		"notADep":     "{other:artifacts:path}",
		"notAVarible": "{unknown}",
	}
	before, _ := json.Marshal(config)
	got := InterpolateConfiguration(config, v)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("InterpolateConfiguration =\n  %s\nwant\n  %s", gotJSON, wantJSON)
	}
	if after, _ := json.Marshal(config); string(after) != string(before) {
		t.Errorf("the configuration passed in was changed: %s", after)
	}
	if v.Config == nil || v.Deps["dep"].Config == nil {
		t.Errorf("the variables passed in lost their configuration")
	}
}
