package deployment

import (
	"os"
	"strconv"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

func TestSystemResourceLimitsAreEnforcedAndKeptByLaterDeployments(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("enforcing systemResourceLimits needs cgroups, and this test runs as uid %d: run the unit tests as root (sudo make test)", os.Geteuid())
	}
	d := newDevice(t)
	dir := t.TempDir()
	writeRecipe(t, dir, "com.example.App", "1.0.0", "m", 0)
	doc := local(nil)
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0",
		RunWith: ddoc.RunWith{SystemResourceLimits: ddoc.SystemResourceLimits{CPUs: 0.5, Memory: 65536}}}
	if st := d.deploy(dir, doc); st.State != ddoc.Succeeded {
		t.Fatalf("deployment with limits: %s %s", st.State, st.Reason)
	}
	check := func(when string) {
		st, _ := d.sup.Status("com.example.App")
		if got := testutil.CgroupFile(t, st.PID, "cpu", "cpu.cfs_quota_us"); got != "50000" {
			t.Errorf("%s: cpu.cfs_quota_us = %s, want 50000 (0.5 of a 100 ms period)", when, got)
		}
		if got := testutil.CgroupFile(t, st.PID, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(65536*1024) {
			t.Errorf("%s: memory.limit_in_bytes = %s, want 64 MiB", when, got)
		}
	}
	check("after the deployment that sets them")
	doc = local(nil)
	doc.Components["com.example.App"] = ddoc.Component{Version: "1.0.0", ConfigurationUpdate: ddoc.ConfigurationUpdate{Merge: map[string]any{"message": "again"}}}
	if st := d.deploy("", doc); st.State != ddoc.Succeeded {
		t.Fatalf("second deployment: %s %s", st.State, st.Reason)
	}
	check("after a deployment without runWith")
}
