package export

import (
	"container/heap"
	"context"
	"sync"

	"github.com/sward-iot/sward/shared/ipc"
)

// Slots limits how many batches upload at once; a freed slot goes to the
// most urgent waiting export (priority 1 first, 0 = unset last), first come
// first served within a priority.
type Slots struct {
	mu    sync.Mutex
	free  int
	queue waiters
	n     uint64 // arrival counter, for FIFO within a priority
}

// NewSlots returns n upload slots (at least 1).
func NewSlots(n int) *Slots { return &Slots{free: max(n, 1)} }

type waiter struct {
	rank, order uint64
	ready       chan struct{}
	index       int
}

type waiters []*waiter

func (w waiters) Len() int { return len(w) }
func (w waiters) Less(i, j int) bool {
	if w[i].rank != w[j].rank {
		return w[i].rank < w[j].rank
	}
	return w[i].order < w[j].order
}
func (w waiters) Swap(i, j int) { w[i], w[j] = w[j], w[i]; w[i].index = i; w[j].index = j }
func (w *waiters) Push(x any)   { x.(*waiter).index = len(*w); *w = append(*w, x.(*waiter)) }
func (w *waiters) Pop() any {
	old := *w
	x := old[len(old)-1]
	*w = old[:len(old)-1]
	x.index = -1
	return x
}
func (s *Slots) grantLocked() {
	for s.free > 0 && s.queue.Len() > 0 {
		w := heap.Pop(&s.queue).(*waiter)
		s.free--
		close(w.ready)
	}
}

// acquire waits for a slot; the returned func gives it back.
func (s *Slots) acquire(ctx context.Context, priority int64) (func(), error) {
	rank := uint64(priority)
	if priority == 0 {
		rank = ipc.MaxPriority + 1
	}
	s.mu.Lock()
	s.n++
	w := &waiter{rank: rank, order: s.n, ready: make(chan struct{})}
	heap.Push(&s.queue, w)
	s.grantLocked()
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		s.free++
		s.grantLocked()
		s.mu.Unlock()
	}
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.index >= 0 {
			heap.Remove(&s.queue, w.index)
			return nil, ctx.Err()
		}
		// Granted while we gave up: hand it on.
		s.free++
		s.grantLocked()
		return nil, ctx.Err()
	}
}
