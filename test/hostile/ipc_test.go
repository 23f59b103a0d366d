package hostile

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/test/harness"
)

// actorRecipe runs test/hostile/actor with args as component name, with
// config (YAML, indented four spaces) as its DefaultConfiguration.
func actorRecipe(t *testing.T, name, args, config string) string {
	return fmt.Sprintf(`
RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "1.0.0"
ComponentConfiguration:
  DefaultConfiguration:
%s
Manifests:
  - Lifecycle:
      Run:
        Script: exec %s %s
`, name, config, harness.Tool(t, "./test/hostile/actor"), args)
}

// actorOutcome is what test/hostile/actor wrote.
type actorOutcome struct {
	Sent      int               `json:"sent"`
	Answers   map[string]int    `json:"answers"`
	Messages  map[string]string `json:"messages"`
	Seconds   float64           `json:"seconds"`
	SlowestMS float64           `json:"slowestMs"`
}

func readOutcome(t *testing.T, n *harness.Nucleus, component, mode string) actorOutcome {
	t.Helper()
	var o actorOutcome
	if err := json.Unmarshal(n.ReadWorkFile(component, mode+".json", 90*time.Second), &o); err != nil {
		t.Fatalf("%s %s.json: %v", component, mode, err)
	}
	return o
}

// wideConfig is a configuration of keys keys, each a small object, so every
// GetConfiguration answer costs the nucleus some encoding.
func wideConfig(keys int) string {
	var b strings.Builder
	for i := range keys {
		fmt.Fprintf(&b, "    key%d: {a: %d, b: text%d}\n", i, i, i)
	}
	return b.String()
}

func TestIPCFloodFromOneComponentDoesNotStallAnother(t *testing.T) {
	const flood = 30_000 // the finding: 30,000 GetConfiguration requests in 0.24 s
	n := harness.Start(t, "", "")
	n.DeployLocal(map[string]string{
		"com.example.Flood":  actorRecipe(t, "com.example.Flood", "flood-config "+strconv.Itoa(flood), wideConfig(300)),
		"com.example.Victim": actorRecipe(t, "com.example.Victim", "latency", "    threshold: 5"),
	})
	n.Touch("com.example.Victim", "go")
	n.Touch("com.example.Flood", "go")
	flooded := readOutcome(t, n, "com.example.Flood", "flood-config")
	n.Touch("com.example.Victim", "stop")
	victim := readOutcome(t, n, "com.example.Victim", "latency")
	t.Logf("flood: %d requests, answers %v in %.2f s; victim meanwhile: %d calls, answers %v, slowest %.1f ms",
		flooded.Sent, flooded.Answers, flooded.Seconds, victim.Sent, victim.Answers, victim.SlowestMS)

	if victim.Answers["ok"] == 0 || victim.Answers["ok"] != victim.Sent {
		t.Errorf("the other component's calls failed during the flood: %v %v", victim.Answers, victim.Messages)
	}
	if victim.SlowestMS > 2000 {
		t.Errorf("the other component waited %.0f ms for an answer during the flood, want under 2 s", victim.SlowestMS)
	}
	want := "rate limit exceeded for component com.example.Flood: 20000 requests/s, 64 in flight"
	if flooded.Answers["ServiceError"] == 0 || !strings.Contains(flooded.Messages["ServiceError"], want) {
		t.Errorf("the flooding component was not limited: answers %v, messages %v; want ServiceError %q", flooded.Answers, flooded.Messages, want)
	}
	if got := flooded.Answers["ok"] + flooded.Answers["ServiceError"]; got != flood {
		t.Errorf("the flood got %d answers, want every one of %d answered (served or refused): %v", got, flood, flooded.Answers)
	}
}

func TestRecipeValidationRefusesADefaultConfigurationDeeperThanIPCAllows(t *testing.T) {
	deep := strings.Repeat("{a: ", 3000) + "1" + strings.Repeat("}", 3000)
	dir := harness.WriteRecipes(t, map[string]string{"deep.yaml": actorRecipe(t, "com.example.Deep", "latency", "    nested: "+deep)})
	out, err := harness.RunCLI(t, "recipe", "validate", dir+"/deep.yaml")
	if err == nil || !strings.Contains(out, "ComponentConfiguration.DefaultConfiguration: nests 3001 objects deep; configurations are at most 32 deep") {
		t.Fatalf("sward recipe validate accepted a 3,000-level DefaultConfiguration or said something else: %v\n%s", err, out)
	}
}

// componentSeries counts the sward_component_metric series of component on
// /metrics.
func componentSeries(t *testing.T, n *harness.Nucleus, component string) int {
	t.Helper()
	resp, err := http.Get(n.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(body), `sward_component_metric{component="`+component+`"`)
}

// rssKB is the resident memory of pid from /proc.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func TestMetricSeriesAreBoundedPerComponentAndRemovedWithIt(t *testing.T) {
	const series = 200_000 // the finding: 200,000 series in 2 s, 31 → 197 MB
	const grant = `    accessControl:
      aws.greengrass.ipc.componentmetric:
        com.example.Metrics:metrics:
          operations: ["aws.greengrass#PutComponentMetric"]
          resources: ["*"]`
	n := harness.Start(t, "", "")
	n.DeployLocal(map[string]string{
		"com.example.Metrics": actorRecipe(t, "com.example.Metrics", "flood-metrics "+strconv.Itoa(series), grant),
	})
	before := rssKB(t, n.PID())
	n.Touch("com.example.Metrics", "go")
	flooded := readOutcome(t, n, "com.example.Metrics", "flood-metrics")
	after := rssKB(t, n.PID())
	got := componentSeries(t, n, "com.example.Metrics")
	t.Logf("%d requests of 100 series: answers %v; nucleus RSS %d → %d KB; %d series on /metrics", flooded.Sent, flooded.Answers, before, after, got)

	if got != 100 {
		t.Errorf("/metrics lists %d series of the component, want the cap of 100", got)
	}
	want := "component com.example.Metrics has 100 metric series and this request adds 100: a component may have at most 100"
	if !strings.Contains(flooded.Messages["ServiceError"], want) {
		t.Errorf("over the cap the component heard %v, want ServiceError %q", flooded.Messages, want)
	}
	if grew := after - before; grew > 64<<10 {
		t.Errorf("nucleus RSS grew by %d KB during the flood, want under 64 MB", grew)
	}

	n.RemoveLocal("com.example.Metrics")
	harness.Eventually(t, 10*time.Second, "the removed component's series leave /metrics", func() error {
		if got := componentSeries(t, n, "com.example.Metrics"); got != 0 {
			return fmt.Errorf("%d series left", got)
		}
		return nil
	})
}
