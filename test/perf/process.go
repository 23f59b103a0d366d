package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopTimeout bounds a clean stop after SIGINT: sward stops its components
// (Shutdown step, SIGTERM, SIGKILL after its own grace period) and flushes
// JetStream, which takes well under this even with ten components.
const stopTimeout = 30 * time.Second

// process is one child the harness started (sward or mosquitto), with its
// output in a file so a failure can show the end of it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// startProcess runs argv with stdout and stderr going to logPath.
func startProcess(name, logPath string, argv ...string) (*process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// If the harness dies without stopping it, the child gets SIGTERM
	// (sward then stops its components) rather than running on.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited returns a non-nil error once the process has ended.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%v); its output ends:\n%s", p.name, p.waitErr, p.tail())
	default:
		return nil
	}
}

// stop sends SIGINT and waits; a process that does not stop in stopTimeout
// is killed and reported.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		var exit *exec.ExitError
		if p.waitErr != nil && !errors.As(p.waitErr, &exit) {
			return fmt.Errorf("%s: %w", p.name, p.waitErr)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGINT and was killed; its output ends:\n%s", p.name, stopTimeout, p.tail())
	}
}

// tailBytes is how much of a failed process's output is shown: enough for
// the last few JSON log records.
const tailBytes = 4096

func (p *process) tail() string {
	data, _ := os.ReadFile(p.logPath)
	if len(data) > tailBytes {
		data = data[len(data)-tailBytes:]
	}
	return string(bytes.TrimSpace(data))
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pollInterval is how often the harness retries while waiting for a start-up
// milestone: 1 ms keeps the measurement error of a ~100 ms start small while
// costing the 2-core machine only a few hundred cheap syscalls per start.
const pollInterval = time.Millisecond

// waitTCP waits until addr accepts a TCP connection or p exits.
func waitTCP(p *process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
			return nil
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept connections on %s after %s: %v", p.name, addr, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitUntil calls check every interval until it reports done or fails, p
// exits, or deadline passes. check also returns what it saw, which the
// timeout error shows.
func waitUntil(p *process, deadline time.Time, interval time.Duration, what string, check func(ctx context.Context) (done bool, seen any, err error)) error {
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		done, seen, err := check(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s by the deadline; last seen: %+v", what, seen)
		}
		time.Sleep(interval)
	}
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat CPU times; 100 on every
// Linux architecture Sward targets.
const clockTick = 10 * time.Millisecond

// cpuTime is the user+system CPU time process pid has used, all threads.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU is the harness's own CPU time (the MQTT and NATS clients).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory is what /proc/<pid>/smaps_rollup says about one process.
type memory struct {
	pss, rss int64 // bytes
	// pssFile is the part of pss backed by files (mostly the binary's own
	// pages), pssAnon the part that is heap, stacks and runtime data.
	pssFile, pssAnon int64
}

func readMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Pss:":
			m.pss = kb * 1024
		case "Rss:":
			m.rss = kb * 1024
		case "Pss_File:":
			m.pssFile = kb * 1024
		case "Pss_Anon:":
			m.pssAnon = kb * 1024
		}
	}
	if m.pss == 0 || m.rss == 0 {
		return m, fmt.Errorf("/proc/%d/smaps_rollup has no Pss or Rss line", pid)
	}
	return m, nil
}
