package nucleus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
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
