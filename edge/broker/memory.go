package broker

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// After many clients connect (or leave), the process holds memory nobody
// uses any more, and the Go runtime gives it back only slowly:
//
//   - the heap memory freed since the last GC, which the runtime keeps for
//     reuse up to the next GC goal (about twice the live heap), so an idle
//     nucleus that just took 1,000 connections keeps about as much freed
//     memory as the connections hold;
//   - the goroutine stacks of every connection's read and write loops, at
//     the size the connect needed (the MQTT CONNECT goes deep into the
//     session code); the runtime halves a stack only at a GC, and only when
//     its goroutine uses under a quarter of it.
//
// So once the number of client connections has moved by at least
// churnConnections and then held still for one check, the broker runs
// settleGCs garbage collections and returns the free memory to the
// operating system (debug.FreeOSMemory). It never runs under a steady
// load: a set of clients that stays connected, however busy, changes
// nothing it watches.
const (
	// churnCheckInterval is how often the connection count is read (one
	// lock of the server, no allocation). A burst has settled when two
	// reads agree, so memory is returned 2-4 s after the last connect or
	// disconnect.
	churnCheckInterval = 2 * time.Second
	// churnConnections is the change that makes settling worth it: 64
	// connections hold about 2 MB of heap and stacks, and a few clients
	// coming and going (components restarting, a test's clients) cost less
	// than the collections would.
	churnConnections = 64
	// settleGCs is how many collections run: each halves the stacks of
	// idle goroutines that use under a quarter of theirs. Measured with
	// 1,000 MQTT connections, their 2,000 loops' stacks average 10 KB after
	// the connects and 4.5 KB after three collections (more change
	// nothing). The last one is FreeOSMemory's own. A collection of a heap
	// with 1,000 connections takes a few milliseconds of CPU.
	settleGCs = 3
)

// settler returns idle memory after a change in the number of clients.
type settler struct {
	count    func() int // the server's client connections
	interval time.Duration
	log      *slog.Logger
	releases atomic.Int64 // how many times memory was returned, for tests
}

// run checks the connection count every interval until quit is closed.
func (s *settler) run(quit <-chan struct{}) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	// The count at the last release; none at start. (Reading it here
	// instead would race with the first clients.)
	settled, prev := 0, 0
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		n := s.count()
		if n == prev && abs(n-settled) >= churnConnections {
			for range settleGCs - 1 {
				runtime.GC()
			}
			debug.FreeOSMemory()
			s.releases.Add(1)
			s.log.Debug("returned idle memory after connections came or went", "connections", n, "before", settled)
			settled = n
		}
		prev = n
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
