package lifecycle

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// maxLineBytes bounds one log line. A longer line is split into chunks of
// this size, each written as its own prefixed line, so nothing is lost and a
// process printing without newlines cannot grow the supervisor's memory.
// 16 KiB holds any sensible line (JSON log records, stack frames).
const maxLineBytes = 16 << 10

// componentLog is the rotated log file shared by all steps of a component.
// lumberjack serialises writes, and each line is one Write, so lines of
// different steps and streams never interleave mid-line.
type componentLog struct {
	lj      *lumberjack.Logger
	readers sync.WaitGroup
	poller  *poller // the supervisor's; nil: a goroutine reads each pipe
}

// logFileLocked returns the rotated log file of component name, one per
// name for the supervisor's lifetime and shared by its runners (a new
// version's and the one it replaces): a lumberjack.Logger starts a
// goroutine on its first write that nothing ends, so a Logger per runner
// would leave one behind for every replaced or removed component that
// printed.
func (s *Supervisor) logFileLocked(name string) *lumberjack.Logger {
	lj := s.logFiles[name]
	if lj == nil {
		lj = &lumberjack.Logger{
			Filename:   filepath.Join(s.opts.LogDir, name+".log"),
			MaxSize:    s.opts.LogMaxSizeMB,
			MaxBackups: s.opts.LogMaxBackups,
		}
		s.logFiles[name] = lj
	}
	return lj
}

// pipe returns the write end to hand to a child process as stdout or stderr;
// the read end is copied line by line into the log, prefixed with
// "<RFC3339 UTC time> [<step>] [<stream>] ", until every process holding
// the write end (the step and anything it left in the background) closed it.
func (l *componentLog) pipe(step, stream string) (*os.File, error) {
	prefix := "[" + step + "] [" + stream + "] "
	if l.poller != nil {
		if w, err := l.poller.pipe(l, prefix); err == nil {
			return w, nil
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l.readers.Add(1)
	go func() {
		defer l.readers.Done()
		defer r.Close()
		copyLines(l.lj, r, prefix)
	}()
	return w, nil
}

// chunks are the read buffers of every component's output pipes. A reader
// takes one only while the pipe has bytes to read, so a component that
// prints nothing (most of the time, most components) costs no buffer, and
// a hundred quiet components cost no more than one.
var chunks = sync.Pool{New: func() any { b := make([]byte, maxLineBytes); return &b }}

// copyLines writes each line of r to w with a time stamp and prefix. A line
// longer than maxLineBytes is written as several lines of at most that
// many bytes; a last line without a newline gets one.
func copyLines(w io.Writer, r *os.File, prefix string) {
	lw := lineWriter{w: w, prefix: prefix}
	rc, err := r.SyscallConn()
	if err != nil { // not pollable: read into a buffer of its own
		buf := make([]byte, maxLineBytes)
		for {
			n, err := r.Read(buf)
			lw.write(buf[:n])
			if err != nil {
				lw.flush()
				return
			}
		}
	}
	for {
		var chunk *[]byte
		var n int
		var rerr error
		// The reader waits in the poller holding no buffer; it takes one
		// when a read finds bytes (or the end).
		err := rc.Read(func(fd uintptr) bool {
			b := chunks.Get().(*[]byte)
			for {
				n, rerr = syscall.Read(int(fd), *b)
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				chunks.Put(b)
				return false
			}
			chunk = b
			return true
		})
		if chunk != nil {
			if n > 0 {
				lw.write((*chunk)[:n])
			}
			chunks.Put(chunk)
		}
		if err != nil || rerr != nil || n <= 0 {
			lw.flush() // the end: every writer closed the pipe (or it failed)
			return
		}
	}
}

// lineWriter turns a stream of bytes into prefixed log lines. It holds the
// start of a line whose end has not been read yet; a quiet component's
// holds nothing.
type lineWriter struct {
	w       io.Writer
	prefix  string
	partial []byte
}

// write logs every complete line of p (after what partial holds) and keeps
// the rest for the next call.
func (l *lineWriter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 || len(l.partial)+i+1 > maxLineBytes {
			// No end of line in p, or the line is too long: keep what
			// fits, and write a full maxLineBytes as a line of its own.
			k := min(len(p), maxLineBytes-len(l.partial))
			l.partial = append(l.partial, p[:k]...)
			p = p[k:]
			if len(l.partial) == maxLineBytes {
				l.line(l.partial)
				l.partial = l.partial[:0]
			}
			continue
		}
		if len(l.partial) > 0 {
			l.partial = append(l.partial, p[:i+1]...)
			l.line(l.partial)
			l.partial = l.partial[:0]
		} else {
			l.line(p[:i+1])
		}
		p = p[i+1:]
	}
	if len(l.partial) == 0 {
		l.partial = nil // a long line's buffer is not kept while the component is quiet
	}
}

// flush logs a last line that has no newline.
func (l *lineWriter) flush() {
	if len(l.partial) > 0 {
		l.line(l.partial)
	}
	l.partial = nil
}

// line writes one line with the time stamp and prefix, in one Write.
func (l *lineWriter) line(body []byte) {
	b := chunks.Get().(*[]byte)
	buf := append((*b)[:0], time.Now().UTC().Format(time.RFC3339)...)
	buf = append(buf, ' ')
	buf = append(buf, l.prefix...)
	buf = append(buf, body...)
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	_, _ = l.w.Write(buf) // a full disk must not stop the component; lumberjack retries on the next line
	chunks.Put(b)         // a line longer than the chunk grew buf into an array of its own; b keeps the chunk
}

// close waits up to wait for the readers (they end when the last process
// holding a pipe exits; waiting longer means a process escaped its group)
// and closes the file.
func (l *componentLog) close(wait time.Duration) {
	done := make(chan struct{})
	go func() { l.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	_ = l.lj.Close()
}
