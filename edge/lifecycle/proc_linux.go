//go:build linux

package lifecycle

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// becomeSubreaper makes the nucleus the child subreaper of everything it
// starts: a process a component leaves behind (the background child of a
// Startup script whose shell exited) is re-parented to the nucleus instead of
// PID 1, so the supervisor can reap it when it kills the group. Without this,
// an init that does not reap (common in containers) would leave zombies that
// keep the group "alive" forever.
func becomeSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// sysProcAttr puts the step in its own process group (so a stop reaches
// everything it started) and kills it if the nucleus dies (Pdeathsig; the
// pgid records catch what Pdeathsig cannot: grandchildren).
//
// Pdeathsig fires when the OS thread that forked the child exits; the Go
// runtime does not end threads unless a goroutine locked to one exits, which
// this package never does.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}

// reapOrphans reaps the processes of group pgid that were re-parented to the
// nucleus and have exited. When leaderWaited, the group leader (pid == pgid)
// is left to the exec.Cmd that waits for it.
func reapOrphans(pgid int, leaderWaited bool) {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || (leaderWaited && pid == pgid) {
			continue
		}
		ppid, pgrp, ok := procStat(pid)
		if !ok || ppid != self || pgrp != pgid {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

// procStat reads the parent pid and process group of pid from /proc.
func procStat(pid int) (ppid, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp ...
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	return ppid, pgrp, err1 == nil && err2 == nil
}

// bootID identifies the current boot: pgid records from another boot name
// groups that died with it, and whose ids may belong to anything now.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// waitExited returns once the child pid has exited, without reaping it:
// exec.Cmd.Wait after it then returns at once. It waits in the Go
// runtime's poller on a pidfd (readable once the process has exited),
// where Cmd.Wait alone would hold an OS thread blocked in waitid for as
// long as the component runs, with that thread's stacks. Where pidfds are
// missing (kernels before 5.3) or not pollable, it returns at once and
// Cmd.Wait blocks a thread as before.
func waitExited(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		// Checked after the poller is armed, so an exit that came
		// before the wait is seen here and one that comes after wakes
		// it. WNOWAIT leaves the child for Cmd.Wait to reap.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		return err != nil || info.Signo != 0
	})
}
