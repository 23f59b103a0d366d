//go:build linux

package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupKillRounds bounds the freeze/kill/thaw rounds of a v1 kill: each
// round kills every process present, so a second is only needed for a
// process that was between fork and joining when the first froze; 100 means
// a kernel that does not cooperate, reported rather than looped on.
const cgroupKillRounds = 100

// cgroupTree is the subtree of one nucleus: bases are the folders that hold
// one folder per component (one base on v2, one per controller on v1).
type cgroupTree struct {
	v2    bool
	bases []string
}

// openCgroupTree finds the cgroup hierarchy this machine offers and creates
// the nucleus's subtree in it. It fails when the nucleus is not root or no
// hierarchy is usable; the caller then falls back to process groups.
func openCgroupTree(stateDir string) (*cgroupTree, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the nucleus is not root")
	}
	id := nucleusCgroupID(stateDir)
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return nil, fmt.Errorf("no cgroup file system at %s: %w", cgroupRoot, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return newCgroupTree(cgroupRoot, true, id)
	}
	for _, c := range cgroupV1Controllers {
		if err := unix.Statfs(filepath.Join(cgroupRoot, c), &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			return nil, fmt.Errorf("the cgroup v1 %s controller is not mounted at %s", c, filepath.Join(cgroupRoot, c))
		}
	}
	return newCgroupTree(cgroupRoot, false, id)
}

// newCgroupTree creates the subtree of nucleus id under mnt (a v2 mount or
// the folder of the v1 controller mounts).
func newCgroupTree(mnt string, v2 bool, id string) (*cgroupTree, error) {
	t := &cgroupTree{v2: v2, bases: cgroupBases(mnt, v2, id)}
	for _, b := range t.bases {
		if err := os.MkdirAll(b, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create cgroup %s: %w", b, err)
		}
	}
	if v2 {
		// Enable the controllers the limits need for the children of
		// sward and of sward/<id>; a controller the kernel lacks stays off
		// (its limits then fail with a clear error when used).
		for _, dir := range []string{mnt, filepath.Dir(t.bases[0]), t.bases[0]} {
			for _, c := range []string{"cpu", "memory", "pids"} {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0)
			}
		}
	}
	return t, nil
}

// remove deletes the subtree's folders when empty (a clean stop).
func (t *cgroupTree) remove() {
	for _, b := range t.bases {
		_ = unix.Rmdir(b)
	}
}

// component returns the cgroup of component name (not created yet).
func (t *cgroupTree) component(name string) *cgroup {
	dirs := make([]string, len(t.bases))
	for i, b := range t.bases {
		dirs[i] = filepath.Join(b, name)
	}
	return &cgroup{v2: t.v2, dirs: dirs}
}

// leftovers names the component cgroups present in the subtree: at start,
// those of a nucleus that did not stop cleanly.
func (t *cgroupTree) leftovers() []string {
	var names []string
	for _, b := range t.bases {
		ents, _ := os.ReadDir(b)
		for _, e := range ents {
			if e.IsDir() && !slices.Contains(names, e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	slices.Sort(names)
	return names
}

// cgroup is the cgroup of one component: one folder on v2, one per
// controller on v1 (dirs[0] is the freezer's, whose cgroup.procs lists the
// processes).
type cgroup struct {
	v2   bool
	dirs []string
}

// create makes the cgroup folders and writes limits.
func (c *cgroup) create(l ResourceLimits) error {
	l = l.onCores(runtime.NumCPU())
	for _, d := range c.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot create cgroup %s: %w", d, err)
		}
	}
	for file, v := range l.limitFiles(c.v2) {
		path := c.file(file)
		if _, err := os.Stat(path); err != nil && !l.needs(file) {
			continue // no such controller, and no limit asked of it
		}
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("cannot set %s to %s: %w", path, v, err)
		}
	}
	if c.v2 || l.MemoryKB <= 0 {
		return nil
	}
	// v1 counts swap separately: without memsw a limited component would
	// swap instead of being stopped at its limit.
	memsw := c.file("memory/memory.memsw.limit_in_bytes")
	if err := os.WriteFile(memsw, []byte(l.memoryBytes()), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot set %s: %w", memsw, err)
	}
	return nil
}

// file is the path of a cgroup file: "memory.max" on v2, "memory/x" (the
// controller, then the file) on v1.
func (c *cgroup) file(name string) string {
	if c.v2 {
		return filepath.Join(c.dirs[0], name)
	}
	ctrl, f, _ := strings.Cut(name, "/")
	for i, cn := range cgroupV1Controllers {
		if cn == ctrl {
			return filepath.Join(c.dirs[i], f)
		}
	}
	return filepath.Join(c.dirs[0], f)
}

// enter arranges for cmd to start inside the cgroup and returns what to
// call once cmd has started (with its pid) or failed to (pid 0). On v2 the
// kernel creates the process in the cgroup; on v1 the script waits behind a
// pipe until its pid is in every controller's cgroup.
func (c *cgroup) enter(cmd *exec.Cmd) (started func(pid int) error, err error) {
	if c.v2 {
		f, err := os.Open(c.dirs[0])
		if err != nil {
			return nil, fmt.Errorf("cannot open cgroup %s: %w", c.dirs[0], err)
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(f.Fd())
		return func(int) error { return f.Close() }, nil
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot create the cgroup gate pipe: %w", err)
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, rd)
	cmd.Args = gateArgs(fd, cmd.Args)
	return func(pid int) error {
		rd.Close()
		defer wr.Close() // without the byte below the gate exits 125
		if pid == 0 {
			return nil
		}
		for i, d := range c.dirs {
			if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
				return fmt.Errorf("cannot put pid %d into cgroup %s (%s): %w", pid, d, cgroupV1Controllers[i], err)
			}
		}
		_, err := wr.Write([]byte("\n"))
		return err
	}, nil
}

// pids lists the processes in the cgroup.
func (c *cgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dirs[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// signal sends sig to every process in the cgroup and returns their pids.
func (c *cgroup) signal(sig syscall.Signal) []int {
	ps := c.pids()
	for _, pid := range ps {
		_ = syscall.Kill(pid, sig)
	}
	return ps
}

// setFrozen freezes (true) or thaws the cgroup and waits until the kernel
// says it is done.
func (c *cgroup) setFrozen(frozen bool) error {
	file, want, got := "freezer/freezer.state", "THAWED", "THAWED"
	if frozen {
		want = "FROZEN"
	}
	if c.v2 {
		file, want = "cgroup.freeze", "0"
		if frozen {
			want = "1"
		}
	}
	path := c.file(file)
	if err := os.WriteFile(path, []byte(want), 0); err != nil {
		return fmt.Errorf("cannot write %s to %s: %w", want, path, err)
	}
	for range 1000 {
		if c.v2 {
			b, err := os.ReadFile(filepath.Join(c.dirs[0], "cgroup.events"))
			if err != nil || strings.Contains(string(b), "frozen "+want) {
				return nil
			}
		} else {
			b, err := os.ReadFile(path)
			if got = strings.TrimSpace(string(b)); err != nil || got == want {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("cgroup %s did not become %s within a second (it is %s)", c.dirs[0], want, got)
}

// frozen reports whether the cgroup is frozen.
func (c *cgroup) frozen() bool {
	if c.v2 {
		b, _ := os.ReadFile(filepath.Join(c.dirs[0], "cgroup.freeze"))
		return strings.TrimSpace(string(b)) == "1"
	}
	b, _ := os.ReadFile(c.file("freezer/freezer.state"))
	return strings.TrimSpace(string(b)) != "THAWED"
}

// kill SIGKILLs every process of the cgroup, including those forked while
// it runs, and returns the pids it killed once the cgroup is empty.
func (c *cgroup) kill() ([]int, error) {
	var killed []int
	if c.v2 {
		killed = c.pids()
		if err := os.WriteFile(filepath.Join(c.dirs[0], "cgroup.kill"), []byte("1"), 0); err == nil {
			return killed, c.waitEmpty(killWait)
		}
		// Kernels before 5.14 have no cgroup.kill: freeze and kill.
	}
	for range cgroupKillRounds {
		// Best effort: a task in the middle of a fork can hold a v1
		// cgroup in FREEZING; the kill and thaw below still end it, and
		// the next round catches what it forked.
		_ = c.setFrozen(true)
		ps := c.signal(syscall.SIGKILL)
		killed = append(killed, ps...)
		if err := c.setFrozen(false); err != nil {
			return killed, err
		}
		if len(ps) == 0 {
			return killed, nil
		}
		if c.waitEmpty(100*time.Millisecond) == nil {
			return killed, nil
		}
	}
	return killed, fmt.Errorf("cgroup %s still has processes %v after %d kill rounds", c.dirs[0], c.pids(), cgroupKillRounds)
}

// waitEmpty polls until the cgroup has no process, for at most d.
func (c *cgroup) waitEmpty(d time.Duration) error {
	deadline := time.Now().Add(d)
	for len(c.pids()) > 0 {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v after %s", c.dirs[0], c.pids(), d)
		}
		time.Sleep(groupPollInterval)
	}
	return nil
}

// oomKills counts the processes the kernel killed for the memory limit.
func (c *cgroup) oomKills() int {
	file, key := "memory/memory.oom_control", "oom_kill "
	if c.v2 {
		file, key = "memory.events", "oom_kill "
	}
	b, err := os.ReadFile(c.file(file))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// remove deletes the (empty) cgroup folders.
func (c *cgroup) remove() error {
	var errs []error
	for _, d := range c.dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("cannot remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// reapPids reaps those of pids that are children of the nucleus (orphans
// re-parented to it as subreaper) and have exited, except keep (the group
// leaders an exec.Cmd waits for).
func reapPids(pids []int, keep map[int]bool) {
	for _, pid := range pids {
		if keep[pid] {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}
