// Package testlog gives tests the log of the code under test: kept quiet
// while the test passes, printed when it fails.
//
// Superseded by internal/testutil/testlog, which every other package's tests
// use; it stays only for the tests of edge/ipc, which is being reshaped at the
// same time, and goes when they import internal/testutil/testlog instead.
package testlog

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// New returns an info-level text logger for t. What it logs is kept in
// memory and printed through t.Log when t has failed, after t's other
// cleanups (a broker's or manager's shutdown lines included).
func New(t testing.TB) *slog.Logger {
	t.Helper()
	b := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the code under test:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a
// logger's, or a command's output read while it still writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
