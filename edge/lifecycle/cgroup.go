package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
)

// Cgroups: every process of a component lives in the component's cgroup, so
// a stop reaches what daemonized (setsid + double fork) out of its process
// group, resource limits apply to all of it, and a pause freezes all of it.
//
// Layout. Each nucleus owns one subtree, named after its state folder so
// that two nuclei on one machine (tests, a second root) never touch each
// other's components:
//
//	cgroup v2 (unified):  <mnt>/sward/<nucleus id>/<component>
//	cgroup v1:            <mnt>/<controller>/sward/<nucleus id>/<component>
//	                      for the freezer, memory, cpu and pids controllers
//
// On v2 the subtree hangs off the root cgroup, not the nucleus's own cgroup:
// v2 forbids processes in a cgroup whose controllers are enabled for its
// children ("no internal processes"), and the nucleus's cgroup holds the
// nucleus. The root cgroup is exempt.
//
// Entering before exec. On v2 a step is created directly inside its cgroup
// (clone3 CLONE_INTO_CGROUP through SysProcAttr.UseCgroupFD). v1 has no such
// call, so a step starts as a shell that blocks reading a pipe; the nucleus
// writes its pid into every controller's cgroup.procs and only then
// releases it to exec the step's script. Nothing of the component runs
// before it is in its cgroup, so nothing can fork out first.
//
// Without cgroups (not root, or no usable hierarchy: a developer machine)
// the supervisor keeps process groups only and logs one warning.

// ResourceLimits caps the processes of a component (Greengrass runWith
// systemResourceLimits). Zero fields mean no limit.
type ResourceLimits struct {
	// MemoryKB is the memory limit in kilobytes (1 KB = 1024 bytes), as
	// Greengrass's systemResourceLimits memory.
	MemoryKB int64
	// CPUs is the CPU time as a number of cores, e.g. 0.5 for half of one.
	CPUs float64
}

// cpuPeriodMicros is the CFS period a CPU limit is expressed in: 100 ms is
// the kernel default, short enough that a limited component is throttled in
// small slices rather than long stalls.
const cpuPeriodMicros = 100000

// validate checks limits for the supervisor; the deployment engine checks
// the document's values with their field paths first.
func (l ResourceLimits) validate() error {
	if l.MemoryKB < 0 {
		return fmt.Errorf("systemResourceLimits memory %d KB is negative; give a positive number of kilobytes", l.MemoryKB)
	}
	if l.CPUs < 0 || math.IsNaN(l.CPUs) || math.IsInf(l.CPUs, 0) {
		return fmt.Errorf("systemResourceLimits cpus %v is not a positive number of cores", l.CPUs)
	}
	return nil
}

// memoryBytes is the memory limit in bytes, "" when unlimited.
func (l ResourceLimits) memoryBytes() string {
	if l.MemoryKB <= 0 {
		return ""
	}
	return strconv.FormatInt(l.MemoryKB*1024, 10)
}

// or fills the zero fields of l from def.
func (l ResourceLimits) or(def ResourceLimits) ResourceLimits {
	if l.MemoryKB == 0 {
		l.MemoryKB = def.MemoryKB
	}
	if l.CPUs == 0 {
		l.CPUs = def.CPUs
	}
	return l
}

// onCores returns l for a machine of n cores: as in Greengrass, a cpus
// limit above the number of cores means no CPU limit.
func (l ResourceLimits) onCores(n int) ResourceLimits {
	if l.CPUs > float64(n) {
		l.CPUs = 0
	}
	return l
}

// cpuQuotaMicros is the CFS quota per cpuPeriodMicros, 0 when unlimited.
// The kernel refuses quotas under 1 ms.
func (l ResourceLimits) cpuQuotaMicros() int64 {
	if l.CPUs <= 0 {
		return 0
	}
	return max(int64(math.Round(l.CPUs*cpuPeriodMicros)), 1000)
}

// limitFiles is what limits write into a component's cgroup, as file name →
// value, for v2 or v1. Unlimited values are written too, so that a
// deployment that drops a limit lifts it.
func (l ResourceLimits) limitFiles(v2 bool) map[string]string {
	mem, quota := l.memoryBytes(), l.cpuQuotaMicros()
	if v2 {
		m := map[string]string{"memory.max": "max", "cpu.max": "max " + strconv.Itoa(cpuPeriodMicros)}
		if mem != "" {
			m["memory.max"] = mem
			m["memory.swap.max"] = "0"
		}
		if quota > 0 {
			m["cpu.max"] = strconv.FormatInt(quota, 10) + " " + strconv.Itoa(cpuPeriodMicros)
		}
		return m
	}
	m := map[string]string{"memory/memory.limit_in_bytes": "-1", "cpu/cpu.cfs_period_us": strconv.Itoa(cpuPeriodMicros), "cpu/cpu.cfs_quota_us": "-1"}
	if mem != "" {
		m["memory/memory.limit_in_bytes"] = mem
	}
	if quota > 0 {
		m["cpu/cpu.cfs_quota_us"] = strconv.FormatInt(quota, 10)
	}
	return m
}

// needs reports whether limit file (as in limitFiles) carries a limit l
// asks for, which must then be written. memory.swap.max only exists with
// swap accounting; without it there is no swap to escape the limit into.
func (l ResourceLimits) needs(file string) bool {
	switch file {
	case "memory.swap.max":
		return false
	case "memory.max", "memory/memory.limit_in_bytes":
		return l.MemoryKB > 0
	}
	return l.CPUs > 0
}

// cgroupV1Controllers are the v1 hierarchies a component gets a cgroup in:
// freezer to kill and pause all of it, memory and cpu for the limits, pids
// so that the pids controller accounts for it.
var cgroupV1Controllers = []string{"freezer", "memory", "cpu", "pids"}

// nucleusCgroupID names this nucleus's subtree: a digest of its state
// folder, stable across restarts (a restarted nucleus finds the cgroups of
// the one that crashed) and distinct between nuclei.
func nucleusCgroupID(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// cgroupBases returns the folders that hold the component cgroups of
// nucleus id: one under a v2 mount, one per controller under a v1 root.
func cgroupBases(mnt string, v2 bool, id string) []string {
	if v2 {
		return []string{filepath.Join(mnt, "sward", id)}
	}
	out := make([]string, len(cgroupV1Controllers))
	for i, c := range cgroupV1Controllers {
		out[i] = filepath.Join(mnt, c, "sward", id)
	}
	return out
}

// gateArgs wraps a step's command line for v1: a shell that waits for a
// line on fd (the nucleus writes it once the pid is in every controller's
// cgroup), closes fd, then execs the original command in the same process.
// When the nucleus closes the pipe without writing, the gate exits 125 and
// nothing of the step runs.
func gateArgs(fd int, args []string) []string {
	gate := fmt.Sprintf(`read -r _ <&%d || exit 125; exec %d<&-; exec "$@"`, fd, fd)
	return append([]string{"/bin/sh", "-c", gate, "sward-cgroup-gate"}, args...)
}
