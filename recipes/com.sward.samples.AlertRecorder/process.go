package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The recorder outlives its Startup step: Startup runs `alert-recorder
// start`, which launches `alert-recorder run` in the background and exits 0
// once the recorder is subscribed; Shutdown and Recover run `alert-recorder
// stop`. The pid file connects them.

// pollInterval is how often start and stop look at the pid file and the
// process: fast enough that neither step is noticeably slower than the
// recorder itself, slow enough to cost nothing.
const pollInterval = 20 * time.Millisecond

// startRecorder launches the recorder in the background with args (the
// `run` command line) and waits up to timeout until it has written its pid
// to pidFile. A recorder already running for pidFile is left alone.
func startRecorder(self string, args []string, pidFile string, logOut *os.File, timeout time.Duration, log *slog.Logger) error {
	if pid, ok := runningRecorder(pidFile); ok {
		log.Info("recorder already running", "pid", pid, "pidfile", pidFile)
		return nil
	}
	cmd := exec.Command(self, args...)
	// The recorder stays in the Startup step's process group: the nucleus
	// keeps that group alive after Startup exits 0 and owns it from then on,
	// so a stop, a restart or a crashed nucleus's successor ends the
	// recorder even if the Shutdown step never runs.
	cmd.Stdout, cmd.Stderr = logOut, logOut
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("launch recorder: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if pid, err := readPID(pidFile); err == nil && pid == cmd.Process.Pid {
			log.Info("recorder started", "pid", pid, "pidfile", pidFile)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("recorder exited before it was ready (%v): see its log", err)
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return fmt.Errorf("recorder not ready within %v: is the broker up? see its log", timeout)
		case <-tick.C:
		}
	}
}

// stopRecorder sends SIGTERM to the recorder of pidFile, waits up to
// timeout for it to exit, then kills it. No pid file, or one whose process
// is gone, is not an error: there is nothing to stop.
func stopRecorder(pidFile string, timeout time.Duration, log *slog.Logger) error {
	pid, ok := runningRecorder(pidFile)
	if !ok {
		if err := os.Remove(pidFile); err == nil {
			log.Info("removed stale pid file", "pidfile", pidFile)
		}
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop recorder %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !isRecorder(pid, pidFile) {
			log.Info("recorder stopped", "pid", pid)
			_ = os.Remove(pidFile)
			return nil
		}
		time.Sleep(pollInterval)
	}
	log.Warn("recorder ignored SIGTERM, killing it", "pid", pid, "after", timeout.String())
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill recorder %d: %w", pid, err)
	}
	_ = os.Remove(pidFile)
	return nil
}

// runningRecorder returns the pid in pidFile if that process is alive and
// is the recorder for this pid file: a pid reused by another program after
// a reboot or crash must never be signalled.
func runningRecorder(pidFile string) (int, bool) {
	pid, err := readPID(pidFile)
	if err != nil {
		return 0, false
	}
	return pid, isRecorder(pid, pidFile)
}

// isRecorder reports whether process pid is alive and was started with
// pidFile on its command line.
func isRecorder(pid int, pidFile string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil { // gone; a zombie has an empty command line and fails below
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return slices.Contains(args, pidFile) || slices.Contains(args, "-pidfile="+pidFile)
}

func readPID(pidFile string) (int, error) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", pidFile, data)
	}
	return pid, nil
}

// writePID records the running recorder's pid; the rename makes it appear
// whole, so start never reads half a number.
func writePID(pidFile string) error {
	tmp := pidFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, pidFile); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removeOwnPID removes pidFile if it still names this process.
func removeOwnPID(pidFile string) {
	if pid, err := readPID(pidFile); err == nil && pid == os.Getpid() {
		_ = os.Remove(pidFile)
	}
}
