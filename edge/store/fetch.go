package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
)

// Downloader fetches what an s3:// URI names (edge/artifacts serves it).
type Downloader interface {
	// Size is the object's size; an error names why it cannot be
	// downloaded (missing, refused, unreachable).
	Size(ctx context.Context, uri string) (int64, error)
	// Partial is how many bytes of uri an earlier Download left for path.
	Partial(uri, path string) int64
	// Download fetches uri into path, resuming what an earlier call left,
	// reporting bytes held and the total as they arrive, and returns the
	// base64 SHA-256 of the file.
	Download(ctx context.Context, uri, path string, progress func(done, total int64)) (string, error)
}

// ErrUnsupportedArtifact means an artifact's URI scheme is one this
// nucleus cannot install (greengrass:, docker:).
var ErrUnsupportedArtifact = errors.New("artifact URI not supported")

// ErrStoreFull means a deployment's downloads would grow the store past
// its MaxSizeBytes (componentStoreMaxSizeBytes).
var ErrStoreFull = errors.New("component store size limit reached")

// progressInterval is how often Fetch reports progress while bytes
// arrive: a deployment record written twice a second shows a download
// moving without loading the records' store.
const progressInterval = 500 * time.Millisecond

// Want is one component version a deployment installs: its recipe, the
// manifest selected for the device and the artifact folder it may come
// from.
type Want struct {
	Recipe      *recipe.Recipe
	Selection   *recipe.Selection
	ArtifactDir string
}

// where names the artifact in errors.
func (d *download) where() string {
	r := d.want.Recipe
	return fmt.Sprintf("component %s %s: %s: Artifacts[%d]", r.Name, r.Version, r.File, d.index)
}

func unsupported(a recipe.Artifact) error {
	return fmt.Errorf("%w: %s: Sward installs s3:// and file: artifacts (greengrass: and docker: URIs are not supported yet): publish the artifact to S3 (sward publish) and name it s3://bucket/key",
		ErrUnsupportedArtifact, a.URI)
}

// download is one artifact Fetch downloads.
type download struct {
	want  Want
	index int
	a     recipe.Artifact
	path  string
	size  int64
	done  int64
}

// Fetch prepares a deployment's artifacts before anything is installed:
// it refuses artifacts this nucleus cannot install (greengrass:,
// docker:), then for every s3:// artifact that the artifact folder does
// not hold it asks S3 for its size (a missing or forbidden object fails
// here, before any byte is downloaded), checks that the store stays
// within MaxSizeBytes, and downloads them all (the Downloader bounds how
// many at once) into <root>/packages/downloads/<Name>/<Version>/, each
// digest-checked against its recipe: a mismatch is refused and the file
// deleted, after one more try from the first byte when the download had
// resumed. progress, when not nil, hears the bytes held and to download
// every progressInterval and at the end. With no Downloader, s3://
// artifacts must be in the artifact folder (Install says so).
func (s *Store) Fetch(ctx context.Context, wants []Want, progress func(ddoc.Progress)) error {
	var errs []error
	var todo []*download
	for _, w := range wants {
		for i, a := range w.Selection.Artifacts {
			where := fmt.Sprintf("component %s %s: %s: Artifacts[%d]", w.Recipe.Name, w.Recipe.Version, w.Recipe.File, i)
			switch a.Scheme() {
			case recipe.SchemeGreengrass, recipe.SchemeDocker:
				errs = append(errs, fmt.Errorf("%s: %w", where, unsupported(a)))
				continue
			case recipe.SchemeS3:
			default:
				continue
			}
			if s.download == nil || (w.ArtifactDir != "" && inFolder(w.Recipe, a, w.ArtifactDir)) {
				continue
			}
			if a.Digest == "" {
				errs = append(errs, fmt.Errorf("%s %s has no Digest: a downloaded artifact must carry its SHA-256 (sward publish writes it), so that it is checked before it is installed", where, a.URI))
				continue
			}
			if alg := normalAlgorithm(a.Algorithm); alg != "" && alg != "SHA256" {
				errs = append(errs, fmt.Errorf("%s %s: digest algorithm %q is not supported: use SHA-256", where, a.URI, a.Algorithm))
				continue
			}
			todo = append(todo, &download{want: w, index: i, a: a, path: s.downloadPath(w.Recipe.Name, w.Recipe.Version, a)})
		}
	}
	if len(errs) > 0 || len(todo) == 0 {
		return errors.Join(errs...)
	}
	// All sizes at once: an unreachable S3 costs one round of retries, not
	// one per artifact.
	sizeErrs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size, err := s.download.Size(ctx, d.a.URI)
			if err != nil {
				sizeErrs[i] = fmt.Errorf("%s: %w", d.where(), err)
				return
			}
			d.size, d.done = size, min(s.download.Partial(d.a.URI, d.path), size)
			if fileExists(d.path) {
				d.done = size // downloaded before, not installed yet
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(sizeErrs...); err != nil {
		return err
	}
	var need int64
	for _, d := range todo {
		need += d.size - d.done
	}
	used, err := s.size()
	if err != nil {
		return fmt.Errorf("component store: %w", err)
	}
	if used+need > s.maxSize {
		return fmt.Errorf("%w: the store holds %d bytes and the deployment's artifacts need %d more, over componentStoreMaxSizeBytes %d: raise componentStoreMaxSizeBytes (services.aws.greengrass.Nucleus.configuration in the device configuration file) or deploy fewer or smaller artifacts",
			ErrStoreFull, used, need, s.maxSize)
	}
	return s.fetch(ctx, todo, progress)
}

// fetch downloads todo at once (the Downloader bounds how many run); the
// first failure stops the others, whose partial files stay for the next
// attempt.
func (s *Store) fetch(ctx context.Context, todo []*download, progress func(ddoc.Progress)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	last := time.Time{}
	report := func(final bool) { // with mu held
		if progress == nil || (!final && time.Since(last) < progressInterval) {
			return
		}
		last = time.Now()
		p := ddoc.Progress{}
		for _, d := range todo {
			p.Bytes += d.done
			p.TotalBytes += d.size
			p.Artifacts = append(p.Artifacts, ddoc.ArtifactProgress{Component: d.want.Recipe.Name, Version: d.want.Recipe.Version,
				URI: d.a.URI, Bytes: d.done, TotalBytes: d.size})
		}
		progress(p)
	}
	mu.Lock()
	report(true)
	mu.Unlock()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = s.fetchOne(ctx, d, func(done, total int64) {
				mu.Lock()
				d.done, d.size = done, total
				report(false)
				mu.Unlock()
			}); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	report(true)
	mu.Unlock()
	// The first failure is the reason; the others were stopped by it.
	var out []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			out = append(out, err)
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return errors.Join(out...)
}

// fetchOne downloads one artifact and checks its digest, trying once more
// from the first byte when a resumed download (or one an earlier
// deployment left complete) does not match.
func (s *Store) fetchOne(ctx context.Context, d *download, progress func(done, total int64)) error {
	where := d.where() + " " + d.a.URI
	resumed := fileExists(d.path) || s.download.Partial(d.a.URI, d.path) > 0
	for {
		got, err := s.download.Download(ctx, d.a.URI, d.path, progress)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if got == d.a.Digest {
			return nil
		}
		_ = os.Remove(d.path)
		if resumed {
			s.log.Warn("resumed artifact download does not match its digest, downloading it again whole", "uri", d.a.URI)
			resumed = false
			continue
		}
		return fmt.Errorf("%s: %w: the downloaded file hashes to %s but the recipe's Digest is %s; nothing was installed: publish the artifact again or fix the recipe's Digest",
			where, ErrDigestMismatch, got, d.a.Digest)
	}
}

// downloadPath is where Fetch downloads an artifact of a component version.
func (s *Store) downloadPath(name, version string, a recipe.Artifact) string {
	return filepath.Join(s.root, "packages", "downloads", name, version, a.FileName())
}

// inFolder reports whether the artifact folder holds the artifact
// (greengrass-cli's layout), which wins over a download.
func inFolder(r *recipe.Recipe, a recipe.Artifact, artifactDir string) bool {
	return fileExists(filepath.Join(artifactDir, r.Name, r.Version, a.FileName()))
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func normalAlgorithm(alg string) string {
	return strings.ToUpper(strings.ReplaceAll(alg, "-", ""))
}

// size is the room the store takes on disk: every file under
// <root>/packages.
func (s *Store) size() (int64, error) {
	var total int64
	err := filepath.WalkDir(filepath.Join(s.root, "packages"), func(_ string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total, err
}

// removeDownloads deletes what Fetch left for versions other than keep's
// (partial downloads of deployments that failed).
func (s *Store) removeDownloads(keep map[string][]string) error {
	dir := filepath.Join(s.root, "packages", "downloads")
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var errs []error
	for _, n := range names {
		versions, _ := os.ReadDir(filepath.Join(dir, n.Name()))
		for _, v := range versions {
			if !slices.Contains(keep[n.Name()], v.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(dir, n.Name(), v.Name())))
			}
		}
		_ = os.Remove(filepath.Join(dir, n.Name())) // when empty
	}
	return errors.Join(errs...)
}
