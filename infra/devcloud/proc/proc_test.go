package proc

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestStopEndsTheProcessAndWhatItStarted(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// A shell that starts a child and waits, as the emulator starts the bootstrap.
	p, err := Start(exec.Command("sh", "-c", "sleep 300 & echo $! > "+pidFile+"; wait"))
	if err != nil {
		t.Fatal(err)
	}
	var child int
	testutil.Eventually(t, "the child's pid", func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return errors.New("not written yet")
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	if p.Exited() {
		t.Fatal("the shell exited early")
	}
	start := time.Now()
	p.Stop(5 * time.Second)
	if !p.Exited() {
		t.Error("Stop returned before the process exited")
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Stop took %s: SIGTERM should have ended the group", took)
	}
	testutil.Eventually(t, "the child gone", func() error {
		if err := syscall.Kill(child, 0); err == nil {
			if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(child), "stat")); strings.Contains(string(b), ") Z ") {
				return nil // a zombie waiting for init: ended
			}
			return errors.New("child still running")
		}
		return nil
	})
}

func TestFreePortIsALoopbackPortNobodyListensOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}
