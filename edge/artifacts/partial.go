package artifacts

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// A download in progress is two files beside its destination:
// <path>.partial, the bytes received so far, and <path>.partial.json,
// which object they are bytes of.
const (
	partialSuffix = ".partial"
	recordSuffix  = ".partial.json"
)

// partial is the record of a download in progress.
type partial struct {
	// URI is what the bytes are of; a record of another URI is discarded.
	URI string `json:"uri"`
	// ETag is the object's ETag when the first byte was received: the
	// rest is asked for with If-Match, so the bytes are all of one object.
	ETag string `json:"etag"`
	// Size is the object's size.
	Size int64 `json:"size"`

	have int64 // the partial file's size
}

// readPartial returns the download of uri in progress at path, if any.
// The partial file's length is what it holds: the record is written before
// the first byte, and bytes are only appended (not fsync'd: a power loss
// may lose some of the last ones, never add any; the digest check catches
// the rest).
func readPartial(path, uri string) (partial, bool) {
	data, err := os.ReadFile(path + recordSuffix)
	if err != nil {
		return partial{}, false
	}
	var p partial
	if json.Unmarshal(data, &p) != nil || p.URI != uri || p.ETag == "" {
		return partial{}, false
	}
	fi, err := os.Stat(path + partialSuffix)
	if err != nil || (p.Size > 0 && fi.Size() > p.Size) {
		return partial{}, false
	}
	p.have = fi.Size()
	return p, true
}

// writePartial starts a download: an empty partial file and its record
// (written atomically). The folder is the nucleus's alone (0700): nothing
// in it has its recipe's permissions yet.
func writePartial(path string, p partial) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+partialSuffix, nil, 0o600); err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := path + recordSuffix + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path+recordSuffix)
}

// finishPartial makes a complete partial file the destination.
func finishPartial(path string) error {
	if err := os.Rename(path+partialSuffix, path); err != nil {
		return err
	}
	return os.Remove(path + recordSuffix)
}

// removePartial forgets a download in progress.
func removePartial(path string) {
	_ = os.Remove(path + partialSuffix)
	_ = os.Remove(path + recordSuffix)
}
