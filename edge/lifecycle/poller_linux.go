//go:build linux

package lifecycle

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// poller waits for every component's output pipes and process exits in
// one epoll set, so that a running component costs the nucleus its runner
// goroutine and nothing else: no goroutine parked on each pipe, none on
// each process, no OS thread blocked in waitid. The epoll fd itself waits
// in the Go runtime's poller (it is readable while it has events), so the
// poller holds no thread either.
//
// Every fd is watched one-shot: when it is ready, its handler runs in a
// goroutine of its own (so a slow log write delays only its component) and
// rearms the fd when it wants more, or removes it at the end. A handler is
// never run twice at once for the same fd.
type poller struct {
	ep   *os.File // the epoll set, in the Go runtime's poller, for the loop
	epfd int      // the same fd, for epoll_ctl while open

	mu       sync.Mutex
	closed   bool             // epfd is closed (or about to be): no epoll_ctl
	handlers map[int32]func() // by the id in the event's data
	nextID   int32
	done     chan struct{} // closed when the loop has ended
}

// newPoller creates the epoll set and starts the goroutine that dispatches
// its events. It returns nil when the kernel offers no pollable epoll set:
// callers then use a goroutine per pipe and per process.
func newPoller() *poller {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil
	}
	p := &poller{ep: os.NewFile(uintptr(fd), "epoll"), epfd: fd, handlers: map[int32]func(){}, done: make(chan struct{})}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		return nil
	}
	go p.loop(rc)
	return p
}

// loop hands each ready fd to its handler until the set is closed.
func (p *poller) loop(rc interface {
	Read(func(uintptr) bool) error
}) {
	defer close(p.done)
	events := make([]unix.EpollEvent, 32)
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			// Asked after the runtime armed its wait, so events that came
			// before are seen here and later ones wake the wait.
			var werr error
			n, werr = unix.EpollWait(int(fd), events, 0)
			return n > 0 || (werr != nil && werr != unix.EINTR)
		})
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if h := p.handlers[ev.Pad]; h != nil {
				go h()
			}
		}
		p.mu.Unlock()
	}
}

// add watches fd for input (a pipe's bytes or end, a pidfd's exit), once:
// h runs when it is ready and must call rearm or remove.
func (p *poller) add(fd int, h func()) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, os.ErrClosed
	}
	p.nextID++
	id := p.nextID
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd), Pad: id}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return 0, err
	}
	p.handlers[id] = h
	return id, nil
}

// rearm watches fd for its next input.
func (p *poller) rearm(fd int, id int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return os.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd), Pad: id}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// remove stops watching fd; the caller closes it afterwards.
func (p *poller) remove(fd int, id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	delete(p.handlers, id)
}

// close ends the loop and waits for it. Handlers still running finish
// their read; their rearm fails and they end.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ep.Close()
	<-p.done
}

// pipe is componentLog.pipe on the poller: a pipe whose read end only the
// poller watches. On an error the caller falls back to a goroutine.
func (p *poller) pipe(l *componentLog, prefix string) (*os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	r, w := fds[0], fds[1]
	// Only the read end is non-blocking: the child writes to a blocking one.
	if err := unix.SetNonblock(r, true); err != nil {
		unix.Close(r)
		unix.Close(w)
		return nil, err
	}
	var mu sync.Mutex // orders the handler runs for the race detector; they never overlap
	lw := lineWriter{w: l.lj, prefix: prefix}
	var id int32
	l.readers.Add(1)
	handler := func() {
		mu.Lock()
		end := drain(r, &lw)
		mu.Unlock()
		if !end && p.rearm(r, id) == nil {
			return
		}
		mu.Lock()
		lw.flush()
		mu.Unlock()
		p.remove(r, id)
		unix.Close(r)
		l.readers.Done()
	}
	mu.Lock()
	var err error
	id, err = p.add(r, handler)
	mu.Unlock()
	if err != nil {
		l.readers.Done()
		unix.Close(r)
		unix.Close(w)
		return nil, err
	}
	return os.NewFile(uintptr(w), "|1"), nil
}

// drain reads fd until it would block, logging every complete line, and
// reports whether the pipe has ended (every writer closed it, or it failed).
func drain(fd int, lw *lineWriter) (end bool) {
	b := chunks.Get().(*[]byte)
	defer chunks.Put(b)
	for {
		n, err := unix.Read(fd, *b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil || n == 0:
			return true
		}
		lw.write((*b)[:n])
	}
}

// waitExit calls done with the exec.Cmd.Wait result once process pid has
// exited, from a goroutine started then. It returns false when the exit
// cannot be watched (no pidfd), for the caller to wait in a goroutine.
func (p *poller) waitExit(pid int, wait func() error, done func(error)) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	var id int32
	var mu sync.Mutex
	mu.Lock()
	id, err = p.add(fd, func() {
		mu.Lock()
		p.remove(fd, id)
		mu.Unlock()
		unix.Close(fd)
		done(wait()) // the process has exited: Wait reaps it at once
	})
	mu.Unlock()
	if err != nil {
		unix.Close(fd)
		return false
	}
	return true
}
