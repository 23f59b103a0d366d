// Package testlog gives tests the log of the code under test: kept quiet
// while the test passes, printed when it fails. With SWARD_TEST_LOG set
// (SWARD_TEST_LOG=1 go test ...) every such logger writes to stderr at
// debug level as things happen instead, for following a test that hangs.
package testlog

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// EnvVerbose names the environment variable that sends every test log to
// stderr at debug level.
const EnvVerbose = "SWARD_TEST_LOG"

// New returns an info-level text logger for t. What it logs is kept in
// memory and printed through t.Log when t has failed, after t's other
// cleanups (a broker's or manager's shutdown lines included).
func New(t testing.TB) *slog.Logger {
	t.Helper()
	if os.Getenv(EnvVerbose) != "" {
		return verbose()
	}
	b := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the code under test:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Child returns the logger of a test's child process (one a test starts
// to kill -9): it logs nothing, or everything to stderr with SWARD_TEST_LOG
// set.
func Child() *slog.Logger {
	if os.Getenv(EnvVerbose) != "" {
		return verbose()
	}
	return slog.New(slog.DiscardHandler)
}

func verbose() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
