package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStopCancelsTheWorkerAndWaitsForIt(t *testing.T) {
	var w Worker
	ended := make(chan struct{})
	w.Go(func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // work after the cancel is waited for
		close(ended)
	})
	if err := w.Stop(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the goroutine ended")
	}
}

func TestStopGivesUpWhenItsContextEndsNamingTheService(t *testing.T) {
	var w Worker
	release := make(chan struct{})
	defer close(release)
	w.Go(func(context.Context) { <-release }) // ignores its context
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := w.Stop(ctx, "fleet status")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "fleet status shutdown") {
		t.Errorf("Stop = %v, want the deadline naming the service", err)
	}
}

func TestStopOfAWorkerNeverStartedIsNil(t *testing.T) {
	var w Worker
	if err := w.Stop(context.Background(), "test"); err != nil {
		t.Errorf("Stop = %v", err)
	}
}
