package cloud

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/lambdas/telemetry"
	"github.com/sward-iot/sward/test/harness"
)

// TestTelemetryBootstrapUnderTheRuntimeEmulator runs the real linux/amd64
// bootstrap, built as `make lambdas` builds it, under the Lambda runtime
// interface emulator, with the environment the CDK app gives it and
// AWS_ENDPOINT_URL pointing at moto. It logs the init figures quoted in
// lambdas/README.md.
func TestTelemetryBootstrapUnderTheRuntimeEmulator(t *testing.T) {
	e := newTelemetryEnv(t)
	bootstrap := harness.BuildLambda(t, "telemetry", "amd64")
	fn := harness.StartLambda(t, bootstrap, append(moto.Env(),
		"SWARD_TELEMETRY_BUCKET="+e.bucket,
		"SWARD_TELEMETRY_STATE_TABLE="+e.table,
		`SWARD_THRESHOLDS={"temperature":{"max":80}}`,
		"AWS_LAMBDA_FUNCTION_NAME=sward-telemetry",
	)...)

	body, status := fn.Invoke(t, e.event(t, hour1+500, rec("temperature", 85, hour1), rec("humidity", 40, hour1)))
	firstInvoke := time.Since(fn.Started)
	if status != http.StatusOK {
		t.Fatalf("invoke: %d %s", status, body)
	}
	var res telemetry.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	if res.Accepted != 2 || res.Alerts != 1 || len(res.Objects) != 1 {
		t.Errorf("result = %+v, want 2 accepted, 1 alert, 1 object", res)
	}
	keys := e.keys(t)
	if len(keys) != 1 || len(res.Objects) != 1 || keys[0] != res.Objects[0] || !strings.Contains(e.object(t, keys[0]), `"metric":"temperature","value":85`) {
		t.Errorf("archive in moto's S3 = %v, want %v holding the readings", keys, res.Objects)
	}
	t.Logf("bootstrap init duration (emulator INIT REPORT): %v; emulator start to first response: %v", fn.InitDuration(), firstInvoke.Round(time.Millisecond))
	if fn.InitDuration() == 0 {
		t.Errorf("the emulator reported no init duration:\n%s", fn.Output())
	}

	// A malformed event: the function answers, counts it, and the
	// invocation does not fail.
	body, status = fn.Invoke(t, []byte(`{"data":"!!","thing":"pi","stream":"env","receivedAt":1}`))
	if status != http.StatusOK || !strings.Contains(string(body), `"malformed":1`) {
		t.Errorf("malformed event: %d %s", status, body)
	}
	// The function's own log lines are JSON with the service attribute.
	var ready bool
	for _, line := range strings.Split(fn.Output(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "ready" && l["service"] == "telemetry" {
			ready = true
		}
	}
	if !ready {
		t.Errorf("no JSON \"ready\" log line from the function:\n%s", fn.Output())
	}
}
