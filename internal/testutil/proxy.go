package testutil

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a loopback port in front of a target: a link a
// test can cut (every connection reset, new ones refused), stall (every
// connection kept open with nothing passing, as a link that died without
// a reset) and restore, or slow down (SetRate).
type Proxy struct {
	// Addr is where clients connect, "127.0.0.1:<port>".
	Addr   string
	target string
	ln     net.Listener

	rate    atomic.Int64 // bytes per second each way, 0: unlimited
	down    atomic.Int64 // bytes passed from the target to clients
	stalled atomic.Bool
	closed  atomic.Bool

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// StartProxy starts a proxy to target; it is closed when t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Cut closes every proxied connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// SetRate limits each direction of every connection to about
// bytesPerSecond (0: unlimited), so that a test can act in the middle of
// a transfer that loopback would finish at once.
func (p *Proxy) SetRate(bytesPerSecond int64) { p.rate.Store(bytesPerSecond) }

// Stall stops every byte from passing, in both directions, on the
// connections open and on new ones, without closing any, until Restore.
func (p *Proxy) Stall() { p.stalled.Store(true) }

// Restore lets connections through again (after Cut or Stall).
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
	p.stalled.Store(false)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up, &p.down)
		go p.pipe(up, c, nil)
	}
}

// FromTarget is how many bytes the target has sent clients through the
// proxy so far.
func (p *Proxy) FromTarget() int64 { return p.down.Load() }

// pipe copies from src to dst, adding what it passes to count (when not
// nil), and closes both when either side ends.
func (p *Proxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	defer p.wg.Done()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		for p.stalled.Load() && !p.closed.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
			if count != nil {
				count.Add(int64(n))
			}
			if rate := p.rate.Load(); rate > 0 {
				time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	p.closed.Store(true)
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
