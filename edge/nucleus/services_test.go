package nucleus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/control"
)

// The watchers' and the page trimmer's Shutdown is background.stop: it
// must not return while a goroutine they started still runs (a git
// watcher's goroutine removes its export folders on the way out).
func TestBackgroundStopWaitsForEveryGoroutine(t *testing.T) {
	bg := newBackground()
	var finished atomic.Int32
	for range 3 {
		bg.Go(func(ctx context.Context) {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // cleanup after the cancel, like a watcher's Close
			finished.Add(1)
		})
	}
	if err := bg.stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := finished.Load(); got != 3 {
		t.Fatalf("stop returned with %d of 3 goroutines finished", got)
	}
}

func TestBackgroundStopGivesUpWhenItsContextEnds(t *testing.T) {
	bg := newBackground()
	release := make(chan struct{})
	bg.Go(func(context.Context) { <-release }) // ignores the cancel
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := bg.stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop = %v, want the context's deadline", err)
	}
}

func testNucleus(t *testing.T, root, natsListen string) *Nucleus {
	t.Helper()
	n, err := New(Options{Root: root, NATSListen: natsListen, MQTTListen: "off", MetricsListen: "off",
		RunAs: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), KeepStartupPages: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A start that fails unwinds what it started: the root lock is released
// (another nucleus can take the root) and no credential says it is up.
func TestStartThatFailsUnwindsTheServicesStartedBeforeIt(t *testing.T) {
	root := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	err = testNucleus(t, root, taken.Addr().String()).Start()
	if err == nil || !strings.Contains(err.Error(), "start broker") {
		t.Fatalf("Start on a taken NATS port = %v, want an error naming the broker", err)
	}
	if _, err := os.Stat(control.CredentialPath(root)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin credential after a failed start: %v, want none", err)
	}

	n := testNucleus(t, root, "127.0.0.1:-1")
	if err := n.Start(); err != nil {
		t.Fatalf("second start on the same root: %v (the failed start kept the root)", err)
	}
	if _, err := os.Stat(control.CredentialPath(root)); err != nil {
		t.Fatalf("admin credential of a started nucleus: %v", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(control.CredentialPath(root)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin credential after Shutdown: %v, want none", err)
	}
	third := testNucleus(t, root, "127.0.0.1:-1")
	if err := third.takeLock(); err != nil {
		t.Fatalf("root after Shutdown: %v, want it free", err)
	}
	third.lock.Close()
}
