package lifecycle

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestResourceLimitsBecomeCgroupFileValues(t *testing.T) {
	tests := []struct {
		name   string
		limits ResourceLimits
		v2     bool
		want   map[string]string
	}{
		{"v2 unlimited lifts both limits", ResourceLimits{}, true,
			map[string]string{"memory.max": "max", "cpu.max": "max 100000"}},
		{"v2 memory in KB and half a core", ResourceLimits{MemoryKB: 102400, CPUs: 0.5}, true,
			map[string]string{"memory.max": "104857600", "memory.swap.max": "0", "cpu.max": "50000 100000"}},
		{"v2 two cores", ResourceLimits{CPUs: 2}, true,
			map[string]string{"memory.max": "max", "cpu.max": "200000 100000"}},
		{"v2 a tiny cpu share is raised to the kernel's 1 ms minimum", ResourceLimits{CPUs: 0.001}, true,
			map[string]string{"memory.max": "max", "cpu.max": "1000 100000"}},
		{"v1 unlimited", ResourceLimits{}, false,
			map[string]string{"memory/memory.limit_in_bytes": "-1", "cpu/cpu.cfs_period_us": "100000", "cpu/cpu.cfs_quota_us": "-1"}},
		{"v1 memory and a quarter core", ResourceLimits{MemoryKB: 1024, CPUs: 0.25}, false,
			map[string]string{"memory/memory.limit_in_bytes": "1048576", "cpu/cpu.cfs_period_us": "100000", "cpu/cpu.cfs_quota_us": "25000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.limits.limitFiles(tt.v2); !maps.Equal(got, tt.want) {
				t.Errorf("limitFiles = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestACPULimitAboveTheCoreCountIsNoLimit(t *testing.T) {
	for _, tc := range []struct {
		cpus, want float64
	}{{0.5, 0.5}, {2, 2}, {2.5, 0}, {8, 0}} {
		if got := (ResourceLimits{CPUs: tc.cpus, MemoryKB: 7}).onCores(2); got.CPUs != tc.want || got.MemoryKB != 7 {
			t.Errorf("cpus %v on 2 cores = %+v, want cpus %v and the memory limit kept", tc.cpus, got, tc.want)
		}
	}
}

func TestInvalidResourceLimitsAreRefusedWithTheField(t *testing.T) {
	for _, l := range []ResourceLimits{{MemoryKB: -1}, {CPUs: -0.5}} {
		c := Component{Name: "A", Version: "1.0.0", Limits: l}
		if err := c.validate(); !errors.Is(err, ErrInvalidComponent) || !strings.Contains(err.Error(), "systemResourceLimits") {
			t.Errorf("limits %+v: %v, want ErrInvalidComponent naming systemResourceLimits", l, err)
		}
	}
	for _, l := range []ResourceLimits{{MemoryKB: -1}, {CPUs: -0.5}} {
		if err := (&Component{Name: "A", Version: "1.0.0", Limits: l}).validate(); err == nil {
			t.Errorf("limits %+v accepted", l)
		}
	}
}

func TestCgroupLayoutSeparatesNucleiAndControllers(t *testing.T) {
	a, b := nucleusCgroupID("/var/lib/sward/state"), nucleusCgroupID("/tmp/other/state")
	if a == b || a != nucleusCgroupID("/var/lib/sward/state") {
		t.Fatalf("ids %q and %q: want stable per state folder and distinct between folders", a, b)
	}
	if got, want := cgroupBases("/sys/fs/cgroup", true, a), []string{"/sys/fs/cgroup/sward/" + a}; !slices.Equal(got, want) {
		t.Errorf("v2 bases = %v, want %v", got, want)
	}
	want := []string{"/sys/fs/cgroup/freezer/sward/" + a, "/sys/fs/cgroup/memory/sward/" + a,
		"/sys/fs/cgroup/cpu/sward/" + a, "/sys/fs/cgroup/pids/sward/" + a}
	if got := cgroupBases("/sys/fs/cgroup", false, a); !slices.Equal(got, want) {
		t.Errorf("v1 bases = %v, want %v", got, want)
	}
}

func TestCgroupGateWaitsOnItsPipeThenExecsTheStep(t *testing.T) {
	got := gateArgs(4, []string{"/bin/sh", "-c", "echo hi"})
	want := []string{"/bin/sh", "-c", `read -r _ <&4 || exit 125; exec 4<&-; exec "$@"`, "sward-cgroup-gate", "/bin/sh", "-c", "echo hi"}
	if !slices.Equal(got, want) {
		t.Errorf("gateArgs = %q, want %q", got, want)
	}
}
