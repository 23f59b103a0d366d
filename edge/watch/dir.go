package watch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

const (
	// DefaultDirInterval is how often a Dir watcher fingerprints its
	// folders. A recipes folder of tens of files costs one stat per file per
	// scan (content is re-read only for files changed in the last 2 s), so
	// 10 scans a second is well under 0.1% of a core, and it leaves most of
	// the 1 s "saved → running" budget to the debounce and the deployment.
	DefaultDirInterval = 100 * time.Millisecond

	// DefaultQuiet is how long the folders must stay unchanged before a
	// change is emitted. Editors save in several writes or through a temp
	// file and a rename, and cp -r, rsync or git checkout write many files,
	// all within tens of ms on a local disk; 300 ms also covers a slow SD
	// card, and change → event stays at most Interval + Quiet = 400 ms.
	DefaultQuiet = 300 * time.Millisecond
)

// DirOptions configure a Dir watcher.
type DirOptions struct {
	// Dir is the recipes folder, watched recursively. Required.
	Dir string
	// ArtifactDir, when set, is watched too (<dir>/<Name>/<Version>/<file>);
	// a change in either emits one Change.
	ArtifactDir string
	// Interval between fingerprints; default DefaultDirInterval.
	Interval time.Duration
	// Quiet is how long the folders must stay unchanged before a Change is
	// emitted; default DefaultQuiet.
	Quiet time.Duration
	// EmitInitial emits the fingerprint found at Start as a Change. Off by
	// default: the caller deployed the folder when it started.
	EmitInitial bool
	// Logger receives the watcher's logs, with service=watch; default
	// slog.Default().
	Logger *slog.Logger
}

// Change says that the watched folders hold new content and have been quiet
// for DirOptions.Quiet.
type Change struct {
	// Dir is DirOptions.Dir.
	Dir string
	// Fingerprint identifies the content of the folders (see Fingerprint):
	// equal fingerprints, equal files.
	Fingerprint string
}

// Dir polls a recipes folder (and an artifacts folder) and emits a Change
// when their content has changed and settled. Edits that are undone within
// the quiet window emit nothing.
type Dir struct {
	opts    DirOptions
	log     *slog.Logger
	scanner *scanner
	changes chan Change
	errs    chan error
	run     runner
	scans   atomic.Int64 // completed scans, for tests
}

// NewDir validates opts and fills defaults; nothing is read until Start.
func NewDir(opts DirOptions) (*Dir, error) {
	if opts.Dir == "" {
		return nil, errorf(ErrInvalidOptions, "watch: DirOptions.Dir is empty: pass the recipes folder")
	}
	if opts.Interval < 0 || opts.Quiet < 0 {
		return nil, errorf(ErrInvalidOptions, "watch %s: negative Interval (%v) or Quiet (%v): use 0 for the defaults", opts.Dir, opts.Interval, opts.Quiet)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultDirInterval
	}
	if opts.Quiet == 0 {
		opts.Quiet = DefaultQuiet
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dirs := []string{opts.Dir}
	if opts.ArtifactDir != "" {
		dirs = append(dirs, opts.ArtifactDir)
	}
	return &Dir{
		opts:    opts,
		log:     opts.Logger.With("service", "watch", "watcher", "dir", "dir", opts.Dir),
		scanner: newScanner(dirs),
		changes: make(chan Change, 1),
		errs:    make(chan error, 1),
	}, nil
}

// Changes delivers a Change each time the folders settle with new content.
// A Change the consumer has not taken is replaced by a newer one. The channel
// is closed by Close.
func (d *Dir) Changes() <-chan Change { return d.changes }

// Errors delivers scan failures (a folder removed, a file unreadable), each
// once until it changes; no Change is emitted while scans fail. An error the
// consumer has not taken is replaced by a newer one. Closed by Close.
func (d *Dir) Errors() <-chan error { return d.errs }

// Start takes the first fingerprint, returning an ErrFolder error if a
// folder is missing or unreadable, and polls until ctx is done or Close.
func (d *Dir) Start(ctx context.Context) error {
	var first string
	return d.run.start(ctx,
		func(context.Context) (err error) { first, err = d.scanner.scan(); return err },
		func(ctx context.Context) { d.loop(ctx, first) })
}

// Close stops the watcher and closes its channels. It is safe to call more
// than once, and without Start.
func (d *Dir) Close() error {
	if d.run.stop() {
		close(d.changes)
		close(d.errs)
	}
	return nil
}

func (d *Dir) loop(ctx context.Context, first string) {
	d.log.Info("watching", "artifactDir", d.opts.ArtifactDir, "interval", d.opts.Interval, "quiet", d.opts.Quiet)
	last, emitted := first, first // last scanned, last emitted
	if d.opts.EmitInitial {
		d.emit(first)
	}
	changedAt := time.Now()
	var lastErr string
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := d.scanner.scan()
		d.scans.Add(1)
		if err != nil {
			if err.Error() != lastErr {
				lastErr = err.Error()
				d.log.Warn("scan failed", "err", err)
				offer(d.errs, err)
			}
			continue
		}
		if lastErr != "" {
			d.log.Info("scan recovered")
			lastErr = ""
		}
		now := time.Now()
		if fp != last {
			last, changedAt = fp, now
			continue
		}
		// Half an interval of slack: scans tick every Interval with jitter,
		// and without it a change often waits one scan more than Quiet.
		if last != emitted && now.Sub(changedAt) >= d.opts.Quiet-d.opts.Interval/2 {
			emitted = last
			d.emit(last)
		}
	}
}

func (d *Dir) emit(fp string) {
	d.log.Info("folder changed", "fingerprint", shortID(fp))
	offer(d.changes, Change{Dir: d.opts.Dir, Fingerprint: fp})
}

// shortID abbreviates a commit id or fingerprint for logs and folder names.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
