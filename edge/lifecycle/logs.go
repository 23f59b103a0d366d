package lifecycle

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
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
}

func newComponentLog(path string, maxSizeMB, maxBackups int) *componentLog {
	return &componentLog{lj: &lumberjack.Logger{
		Filename:   path,
		MaxSize:    maxSizeMB,
		MaxBackups: maxBackups,
	}}
}

// pipe returns the write end to hand to a child process as stdout or stderr;
// the read end is copied line by line into the log, prefixed with
// "<RFC3339 UTC time> [<step>] [<stream>] ", until every process holding
// the write end (the step and anything it left in the background) closed it.
func (l *componentLog) pipe(step, stream string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l.readers.Add(1)
	go func() {
		defer l.readers.Done()
		defer r.Close()
		copyLines(l.lj, r, "["+step+"] ["+stream+"] ")
	}()
	return w, nil
}

// copyLines writes each line of r to w with a time stamp and prefix.
func copyLines(w io.Writer, r io.Reader, prefix string) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			buf = append(buf[:0], time.Now().UTC().Format(time.RFC3339)...)
			buf = append(buf, ' ')
			buf = append(buf, prefix...)
			buf = append(buf, line...)
			if buf[len(buf)-1] != '\n' {
				buf = append(buf, '\n')
			}
			_, _ = w.Write(buf) // a full disk must not stop the component; lumberjack retries on the next line
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
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
