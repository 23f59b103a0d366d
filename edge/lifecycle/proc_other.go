//go:build unix && !linux

package lifecycle

import "syscall"

// Outside Linux (developer machines) there is no subreaper, no Pdeathsig and
// no /proc: processes left behind are re-parented to init, and a crash of
// the nucleus can leave a component's direct child running until the pgid
// records are read by the next New.

func becomeSubreaper() error { return nil }

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

func reapOrphans(int, bool) {}

func bootID() string { return "unknown" }

// waitExited returns at once: Cmd.Wait does the waiting.
func waitExited(int) {}
