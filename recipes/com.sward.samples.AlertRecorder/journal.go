package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// ErrLineTooLong is returned by Append for a line that would not fit in an
// empty file.
var ErrLineTooLong = errors.New("line longer than the journal's file size limit")

// Journal is an append-only JSON Lines file with a bounded size: when the
// next line would take the file over MaxBytes, the file is rotated
// (alerts.jsonl → alerts.jsonl.1 → … → alerts.jsonl.<Keep>, the oldest
// deleted), so the journal never holds more than (Keep+1)·MaxBytes on disk.
type Journal struct {
	path     string
	maxBytes int64
	keep     int
	f        *os.File
	size     int64
}

// OpenJournal opens or creates the journal at path. A final line left
// without its newline by a crash mid-write is cut off, so the next line
// starts clean.
func OpenJournal(path string, maxBytes int64, keep int) (*Journal, error) {
	if maxBytes < 1 {
		return nil, fmt.Errorf("journal %s: maxBytes %d must be positive", path, maxBytes)
	}
	if keep < 0 {
		return nil, fmt.Errorf("journal %s: keepFiles %d must be >= 0", path, keep)
	}
	j := &Journal{path: path, maxBytes: maxBytes, keep: keep}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) open() error {
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	data, err := os.ReadFile(j.path)
	if err == nil && len(data) > 0 && data[len(data)-1] != '\n' {
		keepLen := int64(bytes.LastIndexByte(data, '\n') + 1)
		if err = f.Truncate(keepLen); err == nil {
			data = data[:keepLen]
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: %s: %w", j.path, err)
	}
	j.f, j.size = f, int64(len(data))
	return nil
}

// Append writes line plus a newline and syncs it to disk: alerts are rare,
// and one that was recorded should survive a power cut. line must not
// contain a newline.
func (j *Journal) Append(line []byte) error {
	if bytes.IndexByte(line, '\n') >= 0 {
		return fmt.Errorf("journal %s: line contains a newline", j.path)
	}
	n := int64(len(line)) + 1
	if n > j.maxBytes {
		return fmt.Errorf("journal %s: %d bytes: %w (%d)", j.path, n, ErrLineTooLong, j.maxBytes)
	}
	if j.size+n > j.maxBytes {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.size += n
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// rotate shifts the files one place and starts an empty journal.
func (j *Journal) rotate() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if j.keep == 0 {
		if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
	}
	for i := j.keep; i >= 1; i-- {
		from := j.path
		if i > 1 {
			from = fmt.Sprintf("%s.%d", j.path, i-1)
		}
		if err := os.Rename(from, fmt.Sprintf("%s.%d", j.path, i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return j.open()
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }
