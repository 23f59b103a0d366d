// Package testlog gives tests the log of the code under test: kept quiet
// while the test passes, printed when it fails.
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
	b := &buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the code under test:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// buffer is a bytes.Buffer safe for the logger's concurrent writers.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
