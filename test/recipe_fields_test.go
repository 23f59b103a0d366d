package test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// A provider component and a consumer that uses every recipe feature the
// nucleus acts on: global lifecycle picked by selection, platform regex,
// Setenv at both levels, Skipif, Timeout, RequiresPrivilege, Bootstrap,
// Install, Run, Recover, Shutdown, configuration and dependency variables,
// a digest-checked artifact and a ZIP artifact with its decompressed path.
const fieldsProvider = `
recipeformatversion: "2020-01-25"
componentname: test.Provider
componentversion: "2.3.0"
componentconfiguration:
  defaultconfiguration:
    port: 8080
manifests:
  - platform: {os: all}
    lifecycle:
      run: sleep 300
`

const fieldsConsumer = `
RecipeFormatVersion: "2020-01-25"
ComponentName: test.Consumer
ComponentVersion: "1.0.0"
ComponentDescription: uses every field
ComponentPublisher: Sward tests
ComponentDependencies:
  test.Provider:
    VersionRequirement: ">=2.0.0 <3.0.0"
    DependencyType: HARD
  test.Absent:
    VersionRequirement: "^1.0.0"
    DependencyType: SOFT
ComponentConfiguration:
  DefaultConfiguration:
    greeting: hello
    nested: {a: 1, b: [x, y]}
Manifests:
  - Platform: {os: windows}
    Lifecycle:
      Run: exit 9
  - Name: linux
    Platform:
      os: linux
      architecture: "/^(amd64|aarch64|arm|x86)$/"
    Selections: [posix]
    Artifacts:
      - Uri: s3://bucket/test.Consumer/1.0.0/tool.sh
        Digest: "%DIGEST%"
        Algorithm: SHA-256
        Permission: {Read: OWNER, Execute: OWNER}
      - URI: s3://bucket/test.Consumer/1.0.0/bundle.zip
        Unarchive: ZIP
        Permission: {Read: ALL, Execute: ALL}
Lifecycle:
  posix:
    setEnv:
      LEVEL: lifecycle
      STEP_WINS: lifecycle
    Bootstrap: echo boot >> {work:path}/bootstrap.log
    Install:
      Script: echo install >> {work:path}/install.log
      Timeout: 10
    Run:
      RequiresPrivilege: false
      Setenv:
        STEP_WINS: step
      Script: >-
        {artifacts:path}/tool.sh
        '{configuration:/greeting}' '{configuration:/nested}' '{configuration:/missing}'
        '{test.Provider:configuration:/port}' '{iot:thingName}' '{kernel:rootPath}'
        "$LEVEL" "$STEP_WINS" "$SWARD_COMPONENT_NAME" "$AWS_IOT_THING_NAME"
        "$(cat {artifacts:decompressedPath}/bundle/data.txt)" > {work:path}/out.txt && sleep 300
    Shutdown:
      Skipif: onpath definitely-not-a-command-on-path
      Script: echo shutdown >> {work:path}/shutdown.log
    Recover:
      Skipif: exists /
      Script: echo never
`

const fieldsTool = "#!/bin/sh\nprintf '%s|' \"$@\"\n"

func fieldsArtifacts(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "test.Consumer", "1.0.0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tool.sh"), []byte(fieldsTool), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "bundle.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("data.txt")
	w.Write([]byte("from-zip"))
	zw.Close()
	f.Close()
	sum := sha256.Sum256([]byte(fieldsTool))
	return filepath.Dir(filepath.Dir(dir)), base64.StdEncoding.EncodeToString(sum[:])
}

func TestRecipeUsingEveryFieldRunsAsDescribed(t *testing.T) {
	artifacts, digest := fieldsArtifacts(t)
	recipes := harness.WriteRecipes(t, map[string]string{
		"provider.yaml": fieldsProvider,
		"consumer.yaml": strings.Replace(fieldsConsumer, "%DIGEST%", digest, 1),
	})
	n := harness.Start(t, recipes, artifacts)
	consumer := n.WaitState("test.Consumer", 30*time.Second, "RUNNING")
	out := filepath.Join(consumer.WorkDir, "out.txt")
	var got string
	harness.Eventually(t, 10*time.Second, "the Run step wrote its arguments", func() error {
		data, err := os.ReadFile(out)
		got = string(data)
		if err != nil || got == "" {
			return os.ErrNotExist
		}
		return nil
	})
	want := strings.Join([]string{
		"hello", `{"a":1,"b":["x","y"]}`, "{configuration:/missing}", "8080", "test-thing", n.Root,
		"lifecycle", "step", "test.Consumer", "test-thing", "from-zip",
	}, "|") + "|"
	if got != want {
		t.Fatalf("Run saw\n  %s\nwant\n  %s", got, want)
	}
	for file, count := range map[string]int{"bootstrap.log": 1, "install.log": 1} {
		if c := lines(t, filepath.Join(consumer.WorkDir, file)); c != count {
			t.Fatalf("%s has %d lines, want %d", file, c, count)
		}
	}

	// A restart of the nucleus on the same root: Install runs again,
	// Bootstrap does not, and the clean stop ran Shutdown.
	n.Signal(syscall.SIGINT)
	if !n.WaitExit(40 * time.Second) {
		t.Fatal("nucleus did not stop")
	}
	if c := lines(t, filepath.Join(consumer.WorkDir, "shutdown.log")); c != 1 {
		t.Fatalf("Shutdown ran %d times on a clean stop, want 1", c)
	}
	again := harness.StartAt(t, n.Root, recipes, artifacts)
	again.WaitState("test.Consumer", 30*time.Second, "RUNNING")
	if c := lines(t, filepath.Join(consumer.WorkDir, "install.log")); c != 2 {
		t.Fatalf("Install ran %d times over two nucleus starts, want 2", c)
	}
	if c := lines(t, filepath.Join(consumer.WorkDir, "bootstrap.log")); c != 1 {
		t.Fatalf("Bootstrap ran %d times for one version, want 1", c)
	}
}

func TestTamperedArtifactFailsTheDeploymentBeforeAnythingRuns(t *testing.T) {
	artifacts, _ := fieldsArtifacts(t)
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 32))
	recipes := harness.WriteRecipes(t, map[string]string{
		"provider.yaml": fieldsProvider,
		"consumer.yaml": strings.Replace(fieldsConsumer, "%DIGEST%", wrong, 1),
	})
	n := harness.Start(t, recipes, artifacts)
	c := n.Client()
	harness.Eventually(t, 30*time.Second, "the deployment fails on the digest", func() error {
		list, err := c.Deployments(context.Background())
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].State != "FAILED" || !strings.Contains(list[0].Reason, "digest mismatch") || !strings.Contains(list[0].Reason, "tool.sh") {
			return fmt.Errorf("deployments %+v", list)
		}
		return nil
	})
	if comps, _ := c.Components(context.Background()); len(comps) != 0 {
		t.Fatalf("a refused deployment left components running: %+v", comps)
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}
