package stream

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Group commit for flushOnWrite streams.
//
// The broker runs JetStream without SyncAlways: a stored message is written
// to its block file (the page cache) before JetStream acknowledges it, and
// fsync'd by JetStream only every two minutes. For a flushOnWrite stream the
// Manager waits for JetStream's acknowledgement, then joins the stream's
// next sync group; one goroutine per stream fsyncs the block files JetStream
// wrote since the last group (and the msgs folder when a block file was
// created) and releases the whole group. Every message of a group was
// written before that fsync started, so an append acknowledged after its
// group's fsync is on disk. Concurrent appenders share one fsync: the rate
// is (appenders per group) x (fsyncs per second).
//
// This relies on nats-server's file store layout (v2.15):
// <store>/jetstream/<account>/streams/<stream>/msgs/<index>.blk, written in
// place (no AsyncFlush for a one-replica stream). syncer_test checks it.

// blockSuffix is the file name suffix of a JetStream message block.
const blockSuffix = ".blk"

// syncer fsyncs one stream's JetStream files in groups.
type syncer struct {
	dir string // the stream's msgs folder

	mu     sync.Mutex
	next   *syncGroup // the group new appends join; nil when none waits
	closed bool       // run has ended: joiners fsync on their own

	kick chan struct{} // capacity 1: "a group is waiting"
	stop chan struct{}
	done chan struct{}

	// Owned by the run goroutine.
	lastIndex int      // highest block index fsync'd so far
	last      *os.File // open handle on block lastIndex
}

// syncGroup is a set of appends released by one fsync.
type syncGroup struct {
	done chan struct{}
	err  error
}

// newSyncer starts the group-commit goroutine for the msgs folder dir, and
// fsyncs the stream's folder tree once so that the stream itself (its
// metadata and folders) survives a power loss.
func newSyncer(dir string) (*syncer, error) {
	if err := syncTree(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	s := &syncer{
		dir:  dir,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

// join returns the group that the next fsync will release. Call it only
// after JetStream acknowledged the message. After close (the stream was
// deleted, or flushOnWrite turned off, while the append was in flight) the
// caller's message is fsync'd on the spot.
func (s *syncer) join() *syncGroup {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done // run has finished with lastIndex
		g := &syncGroup{done: make(chan struct{})}
		_, g.err = fsyncBlocks(s.dir, s.lastIndex)
		close(g.done)
		return g
	}
	g := s.next
	if g == nil {
		g = &syncGroup{done: make(chan struct{})}
		s.next = g
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	return g
}

// close stops the goroutine after fsyncing the group that waits, if any.
func (s *syncer) close() {
	close(s.stop)
	<-s.done
}

func (s *syncer) run() {
	defer close(s.done)
	for {
		stop := false
		select {
		case <-s.kick:
		case <-s.stop:
			stop = true
		}
		// Taking the waiting group and closing happen under one lock: a
		// joiner either is in this last group or sees closed and fsyncs
		// on its own; none can start a group nobody will release.
		s.mu.Lock()
		g := s.next
		s.next = nil
		if stop {
			s.closed = true
		}
		s.mu.Unlock()
		if g != nil {
			g.err = s.fsync()
			close(g.done)
		}
		if stop {
			if s.last != nil {
				s.last.Close()
			}
			return
		}
	}
}

// fsync makes every block written since the previous call durable. JetStream
// numbers blocks one up from the last, so after the first call a stat of
// the next index finds new blocks without listing the folder.
func (s *syncer) fsync() error {
	if s.last == nil {
		return s.fsyncListed()
	}
	if err := s.last.Sync(); err != nil {
		return fmt.Errorf("stream: fsync %s: %w", s.last.Name(), err)
	}
	created := false
	for {
		f, err := os.Open(filepath.Join(s.dir, strconv.Itoa(s.lastIndex+1)+blockSuffix))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream: open block for fsync: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("stream: fsync %s: %w", f.Name(), err)
		}
		s.last.Close()
		s.last, s.lastIndex, created = f, s.lastIndex+1, true
	}
	if created {
		// A block file created since the last group exists on disk only
		// once its folder entry is.
		return syncPath(s.dir)
	}
	return nil
}

// fsyncListed is fsync for the first group: it fsyncs every block and
// keeps the newest open for the next groups.
func (s *syncer) fsyncListed() error {
	newest, err := fsyncBlocks(s.dir, s.lastIndex)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(s.dir, strconv.Itoa(newest)+blockSuffix))
	if err != nil {
		return fmt.Errorf("stream: open block for fsync: %w", err)
	}
	s.last, s.lastIndex = f, newest
	return nil
}

// fsyncBlocks lists dir, fsyncs every block numbered from on and the
// folder itself, and returns the newest block's index.
func fsyncBlocks(dir string, from int) (int, error) {
	names, err := readDirNames(dir)
	if err != nil {
		return 0, err
	}
	var indexes []int
	for _, n := range names {
		if idx, ok := blockIndex(n); ok && idx >= from {
			indexes = append(indexes, idx)
		}
	}
	if len(indexes) == 0 {
		return 0, fmt.Errorf("stream: no JetStream block file in %s: the file store layout is not the one this package knows (nats-server v2.15); flushOnWrite cannot be honoured", dir)
	}
	slices.Sort(indexes)
	for _, idx := range indexes {
		err := syncPath(filepath.Join(dir, strconv.Itoa(idx)+blockSuffix))
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // removed by JetStream meanwhile: nothing to keep
			return 0, err
		}
	}
	return indexes[len(indexes)-1], syncPath(dir)
}

// blockIndex parses "<index>.blk".
func blockIndex(name string) (int, bool) {
	base, ok := strings.CutSuffix(name, blockSuffix)
	if !ok {
		return 0, false
	}
	idx, err := strconv.Atoi(base)
	return idx, err == nil && idx > 0
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("stream: open JetStream folder %s: %w", dir, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("stream: list %s: %w", dir, err)
	}
	return names, nil
}

// syncPath fsyncs one file or folder.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("stream: open %s for fsync: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("stream: fsync %s: %w", path, err)
	}
	return nil
}

// syncTree fsyncs every file and folder under root, then root's parent
// folders up to the JetStream store, so a new stream's folder entries and
// metadata files are on disk.
func syncTree(root string) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // JetStream removed a temporary file meanwhile
		}
		if err != nil {
			return err
		}
		if err := syncPath(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stream: fsync %s: %w", root, err)
	}
	// <store>/jetstream/<account>/streams/<stream>: the streams folder,
	// the account folder and jetstream itself hold the new entries.
	dir := root
	for range 3 {
		dir = filepath.Dir(dir)
		if err := syncPath(dir); err != nil {
			return err
		}
	}
	return nil
}

// streamDir finds the msgs folder of a JetStream stream under the broker's
// store folder. The account folder's name depends on the broker's account
// setup, so it is looked up rather than assumed.
func streamDir(storeDir, jsName string) (string, error) {
	pattern := filepath.Join(storeDir, "jetstream", "*", "streams", jsName, "msgs")
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("stream: look for %s: %w", pattern, err)
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("stream: JetStream stream %s has no folder matching %s: is JetStreamStoreDir the broker's StoreDir?", jsName, pattern)
	default:
		return "", fmt.Errorf("stream: JetStream stream %s has folders in several accounts (%v): flushOnWrite cannot tell which one the Manager's connection writes", jsName, matches)
	}
}
