package deployment

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// pathsRecipe keeps recipe variables in its configuration, and in a
// dependency's.
const (
	pathsRecipe = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Paths
ComponentVersion: '1.0.0'
ComponentDependencies:
  com.example.Model: {VersionRequirement: ^2.0.0}
ComponentConfiguration:
  DefaultConfiguration:
    dataDir: '{work:path}/data'
    thing: '{iot:thingName}'
    paths: ['{kernel:rootPath}', '{artifacts:path}/cfg', '{com.example.Model:artifacts:path}/model.bin']
    echo: '{configuration:/thing}'
    port: 8883
Manifests:
  - Lifecycle:
      Run: exec sleep 300
`
	modelRecipe = `RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.Model
ComponentVersion: '2.1.0'
Manifests:
  - Lifecycle:
      Run: exec sleep 300
`
)

func TestInterpolateComponentConfigurationExpandsRecipeVariablesInStoredConfiguration(t *testing.T) {
	tests := []struct {
		name string
		on   bool
		want func(d *device) map[string]any
	}{
		{"off by default: values stay as written", false, func(*device) map[string]any {
			return map[string]any{
				"dataDir": "{work:path}/data", "thing": "{iot:thingName}",
				"paths": []any{"{kernel:rootPath}", "{artifacts:path}/cfg", "{com.example.Model:artifacts:path}/model.bin"},
				"echo":  "{configuration:/thing}", "port": 8883.0,
				"unrelated": "{work:path}",
			}
		}},
		{"on: system variables expand, configuration variables stay", true, func(d *device) map[string]any {
			return map[string]any{
				"dataDir": filepath.Join(d.root, "work", "com.example.Paths") + "/data", "thing": "test-thing",
				"paths": []any{d.root, d.store.ArtifactsPath("com.example.Paths", "1.0.0") + "/cfg",
					d.store.ArtifactsPath("com.example.Model", "2.1.0") + "/model.bin"},
				"echo": "{configuration:/thing}", "port": 8883.0,
				"unrelated": filepath.Join(d.root, "work", "com.example.Paths"),
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeviceWith(t, func(o *Options) { o.InterpolateComponentConfiguration = tt.on })
			dir := t.TempDir()
			for file, text := range map[string]string{"paths.yaml": pathsRecipe, "model.yaml": modelRecipe} {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A deployment's merge is interpolated too.
			doc := local(nil)
			doc.Components["com.example.Paths"] = ddoc.Component{Version: "1.0.0",
				ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"unrelated": "{work:path}"}}}
			if st := d.deploy(dir, doc); st.State != ddoc.Succeeded {
				t.Fatalf("deployment %s: %s", st.State, st.Reason)
			}
			got, _, err := d.cfg.Get(context.Background(), "com.example.Paths")
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want(d))
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("stored configuration\n  %s\nwant\n  %s", gotJSON, wantJSON)
			}
		})
	}
}
