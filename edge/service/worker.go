package service

import (
	"context"
	"fmt"
)

// Worker is the one background goroutine of a service: Go starts it with a
// context that Stop cancels, and Stop waits for it to return. The zero
// Worker is ready; Stop on a Worker never started returns nil at once.
type Worker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Go runs run in a new goroutine. It is called once, from Start.
func (w *Worker) Go(run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		run(ctx)
	}()
}

// Stop cancels the goroutine's context and waits until it has returned or
// ctx ends; name is the service, for the error.
func (w *Worker) Stop(ctx context.Context, name string) error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s shutdown: %w", name, ctx.Err())
	}
}
