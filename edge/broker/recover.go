package broker

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// JetStream write errors are sticky in nats-server: the first failed
// write of a stream's file store (ENOSPC when the disk is full) is kept
// and returned for every later write (filestore.go, setWriteErr and
// msgBlock.werr), so the stream stays unwritable after space returns until
// its store is opened again, which nats-server does only at start. The
// broker watches for that state and, once the disk has room again,
// restarts JetStream in place (ShutdownJetStream, EnableJetStream: every
// store is reopened from disk); client connections stay up.

const (
	// storeCheckInterval is how often the broker looks for a failed store
	// and, after one, for free space: a stream is back within a few
	// seconds of the space, at the cost of one statfs per tick.
	storeCheckInterval = 2 * time.Second

	// storeRecoveryFree is the free space the store's file system needs
	// before JetStream is restarted: a reopened store writes its index
	// files at once, and a restart into a still-full disk would only fail
	// again.
	storeRecoveryFree = 4 << 20

	// writeErrorMark is in the line nats-server logs when a file store
	// write fails ("Filestore [<stream>] Critical write error: ...").
	writeErrorMark = "Critical write error"
)

// noteWriteError records a failed store write that nats-server logged.
func (l *serverLogger) noteWriteError(msg string) {
	if !strings.Contains(msg, writeErrorMark) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writeErr == "" {
		l.writeErr = msg
	}
}

// takeWriteError returns and clears the recorded write error.
func (l *serverLogger) takeWriteError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := l.writeErr
	l.writeErr = ""
	return msg
}

// watchStore restarts JetStream after a store write failed, once the disk
// has room again, until Shutdown.
func (b *Broker) watchStore() {
	t := time.NewTicker(storeCheckInterval)
	defer t.Stop()
	failed := ""
	for {
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
		if msg := b.srvLog.takeWriteError(); msg != "" && failed == "" {
			failed = msg
			b.log.Error("jetstream store write failed; writes resume once the disk has room", "error", msg, "store", b.opts.StoreDir, "need_free", storeRecoveryFree)
		}
		if failed == "" && b.srv.JetStreamEnabled() {
			continue
		}
		free, err := freeBytes(b.opts.StoreDir)
		if err != nil || free < storeRecoveryFree {
			continue
		}
		if err := b.restartJetStream(); err != nil {
			b.log.Error("jetstream restart after a store write error failed; retrying", "error", err)
			continue
		}
		b.log.Info("jetstream restarted after a store write error: streams are writable again", "free", free, "error_was", failed)
		failed = ""
	}
}

// restartJetStream reopens every store with the same configuration.
func (b *Broker) restartJetStream() error {
	if b.srv.JetStreamEnabled() {
		if err := b.srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("broker: stop jetstream: %w", err)
		}
	}
	err := b.srv.EnableJetStream(&server.JetStreamConfig{
		StoreDir:   b.opts.StoreDir,
		MaxMemory:  b.opts.MaxMemory,
		MaxStore:   b.opts.MaxStore,
		SyncAlways: b.opts.SyncAlways,
	})
	if err != nil {
		return fmt.Errorf("broker: start jetstream: %w", err)
	}
	if b.opts.MQTTListen != "" {
		return b.boundMQTTStreams()
	}
	return nil
}

// freeBytes is the space an unprivileged writer can still use on dir's
// file system.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
