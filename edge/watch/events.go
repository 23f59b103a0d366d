package watch

import (
	"context"
	"sync"
)

// offer puts v in ch, a channel with a buffer of one, replacing a value the
// consumer has not taken yet: a consumer that falls behind gets the latest
// state, never a backlog, and the watcher never blocks on it. It returns the
// replaced value. Only the watcher's goroutine sends, so after the drain the
// send always has room.
func offer[T any](ch chan T, v T) (old T, replaced bool) {
	select {
	case old = <-ch:
		replaced = true
	default:
	}
	ch <- v
	return old, replaced
}

// runner is the Start/Close plumbing both watchers share: one goroutine,
// stopped by cancelling its context.
type runner struct {
	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
}

// start runs prepare and then loop in a goroutine under a context derived
// from ctx; it returns ErrStarted once started and after Close. A prepare
// error is returned and leaves the runner unstarted, so Start may be retried
// once the cause is fixed.
func (r *runner) start(ctx context.Context, prepare func(context.Context) error, loop func(context.Context)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return ErrStarted
	}
	if err := prepare(ctx); err != nil {
		return err
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		loop(ctx)
	}()
	return nil
}

// stop cancels the goroutine and waits for it; it reports false when the
// runner was already closed.
func (r *runner) stop() bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	r.closed = true
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return true
}
