package store

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sward-iot/sward/shared/recipe"
)

// Store is the component store under one root folder.
type Store struct {
	root string
	// maxBytes and maxEntries bound each ZIP artifact's content; New sets
	// MaxUnarchivedBytes and MaxUnarchivedEntries.
	maxBytes   uint64
	maxEntries int
	// download and maxSize: see Options.
	download Downloader
	maxSize  int64
	log      *slog.Logger
}

// DefaultMaxSizeBytes is Greengrass's componentStoreMaxSizeBytes default:
// 10 GB.
const DefaultMaxSizeBytes = 10_000_000_000

// Options configures a Store.
type Options struct {
	// Root is the nucleus root folder.
	Root string
	// Downloader fetches the s3:// artifacts no artifact folder holds
	// (edge/artifacts); nil: they must be in the deployment's artifact
	// folder.
	Downloader Downloader
	// MaxSizeBytes bounds the store's size on disk (recipes, artifacts,
	// unarchived artifacts and downloads) that downloads may grow it to:
	// Greengrass's componentStoreMaxSizeBytes (DefaultMaxSizeBytes).
	MaxSizeBytes int64
	Logger       *slog.Logger
}

// Open returns the store opts describe.
func Open(opts Options) *Store {
	if opts.MaxSizeBytes <= 0 {
		opts.MaxSizeBytes = DefaultMaxSizeBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Store{root: opts.Root, maxBytes: MaxUnarchivedBytes, maxEntries: MaxUnarchivedEntries,
		download: opts.Downloader, maxSize: opts.MaxSizeBytes, log: opts.Logger.With("service", "store")}
}

// New returns the store under root (the nucleus root folder), with no
// downloader.
func New(root string) *Store { return Open(Options{Root: root}) }

// ArtifactsPath is the value of {artifacts:path} for a component version.
func (s *Store) ArtifactsPath(name, version string) string {
	return filepath.Join(s.root, "packages", "artifacts", name, version)
}

// DecompressedPath is the value of {artifacts:decompressedPath}.
func (s *Store) DecompressedPath(name, version string) string {
	return filepath.Join(s.root, "packages", "artifacts-unarchived", name, version)
}

// ErrDigestMismatch means an artifact's content does not hash to its recipe's Digest.
var ErrDigestMismatch = errors.New("artifact digest mismatch")

// ErrUnsafeArchive means a ZIP artifact holds an entry that would land outside
// its folder (../, an absolute path) or a symbolic link.
var ErrUnsafeArchive = errors.New("unsafe archive entry")

// ErrOutsideArtifactFolders means an artifact's file (a file: URI or a
// symbolic link in the artifact folder) is outside the recipe's folder and
// the deployment's artifact folder.
var ErrOutsideArtifactFolders = errors.New("artifact outside the deployment's folders")

// ErrArchiveTooLarge means a ZIP artifact unpacks to more than
// MaxUnarchivedBytes or holds more than MaxUnarchivedEntries entries.
var ErrArchiveTooLarge = errors.New("archive too large")

// Bounds on what one ZIP artifact may unpack to, so a small archive cannot
// fill the device's disk or inodes (a 2 MB ZIP of zeros unpacks to 2 GiB).
// 2 GiB is more than any component image Sward ships; 100,000 entries is a
// full Python or Node runtime with room to spare.
const (
	MaxUnarchivedBytes   = 2 << 30
	MaxUnarchivedEntries = 100_000
)

// Install copies the artifacts of the selected manifest from artifactDir into
// the store, checks digests before anything else happens, unarchives ZIPs and
// applies permissions. It builds the new version beside the old one and
// swaps it in only when everything succeeded, so a failure leaves the store
// exactly as it was (an installed copy of the same version included). It
// returns a digest of the installed files' content, which changes when a
// version is re-deployed with rebuilt artifacts.
func (s *Store) Install(r *recipe.Recipe, sel *recipe.Selection, artifactDir string) (string, error) {
	sum := sha256.New()
	if len(sel.Artifacts) == 0 {
		// The folder marks the version as installed, for Collect.
		return "", os.MkdirAll(s.ArtifactsPath(r.Name, r.Version), 0o755)
	}
	staging, err := os.MkdirTemp(filepath.Join(s.root, "packages"), ".staging-")
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Join(s.root, "packages"), 0o755); err == nil {
			staging, err = os.MkdirTemp(filepath.Join(s.root, "packages"), ".staging-")
		}
	}
	if err != nil {
		return "", fmt.Errorf("component %s %s: %w", r.Name, r.Version, err)
	}
	defer os.RemoveAll(staging)
	stagedArtifacts, stagedUnarchived := filepath.Join(staging, "artifacts"), filepath.Join(staging, "unarchived")
	if err := s.install(r, sel, artifactDir, stagedArtifacts, stagedUnarchived, sum); err != nil {
		return "", err
	}
	for _, swap := range [][2]string{
		{stagedArtifacts, s.ArtifactsPath(r.Name, r.Version)},
		{stagedUnarchived, s.DecompressedPath(r.Name, r.Version)},
	} {
		if err := replaceDir(swap[0], swap[1]); err != nil {
			return "", fmt.Errorf("component %s %s: %w", r.Name, r.Version, err)
		}
	}
	// Its downloads were moved in.
	_ = os.RemoveAll(filepath.Dir(s.downloadPath(r.Name, r.Version, recipe.Artifact{})))
	return base64.StdEncoding.EncodeToString(sum.Sum(nil)), nil
}

// replaceDir puts the folder staged at from in place of to. Running
// processes keep the files they have open; new ones see the new version.
func replaceDir(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return os.Rename(from, to)
}

func (s *Store) install(r *recipe.Recipe, sel *recipe.Selection, artifactDir, dst, unarchived string, sum hash.Hash) error {
	for _, dir := range []string{dst, unarchived} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("component %s %s: %w", r.Name, r.Version, err)
		}
	}
	for i, a := range sel.Artifacts {
		src, err := s.source(r, a, artifactDir)
		if err != nil {
			return fmt.Errorf("%s: Artifacts[%d] %s: %w", r.File, i, a.URI, err)
		}
		target := filepath.Join(dst, a.FileName())
		if src == s.downloadPath(r.Name, r.Version, a) {
			// Downloaded into the store: moved, not copied, so it takes
			// its room on disk once (see Fetch).
			if err := os.Rename(src, target); err != nil {
				return fmt.Errorf("%s: Artifacts[%d] %s: %w", r.File, i, a.URI, err)
			}
			src = target
		}
		if err := copyChecked(src, target, a, sum); err != nil {
			return fmt.Errorf("%s: Artifacts[%d] %s: %w", r.File, i, a.URI, err)
		}
		mode := fileMode(a.Permission)
		if a.Unarchived() {
			into := filepath.Join(unarchived, strings.TrimSuffix(a.FileName(), filepath.Ext(a.FileName())))
			if err := s.unzip(target, into, mode); err != nil {
				return fmt.Errorf("%s: Artifacts[%d] %s: %w", r.File, i, a.URI, err)
			}
		}
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
	}
	return nil
}

// source finds an artifact's file in artifactDir/<Name>/<Version>/<file>, the
// greengrass-cli layout, or else, for an s3: URI, the file Fetch
// downloaded; file: URIs name a local file, relative ones from the
// recipe's folder. Either way a local file, with symbolic links followed,
// must lie inside the folders the deployment named (the recipe's folder or
// the artifact folder): the nucleus may read every file on the device, and a
// deployment must not make it copy one (/etc/shadow) into the store.
func (s *Store) source(r *recipe.Recipe, a recipe.Artifact, artifactDir string) (string, error) {
	switch a.Scheme() {
	case recipe.SchemeFile:
		p := a.LocalPath()
		recipeDir := filepath.Dir(r.File)
		if !filepath.IsAbs(p) {
			p = filepath.Join(recipeDir, p)
		}
		return inside(p, recipeDir, artifactDir)
	case recipe.SchemeGreengrass, recipe.SchemeDocker:
		return "", unsupported(a)
	case recipe.SchemeS3:
		if artifactDir == "" || !inFolder(r, a, artifactDir) {
			if p := s.downloadPath(r.Name, r.Version, a); fileExists(p) {
				return p, nil
			}
		}
	}
	if artifactDir == "" {
		return "", fmt.Errorf("no artifact folder given: pass --artifacts DIR holding %s/%s/%s%s", r.Name, r.Version, a.FileName(), s.noDownload(a))
	}
	p := filepath.Join(artifactDir, r.Name, r.Version, a.FileName())
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("artifact file %s is missing: build it (make artifacts) or fix the artifact folder%s", p, s.noDownload(a))
	}
	return inside(p, artifactDir)
}

// noDownload says, for an s3:// artifact the store cannot download, what
// would let it.
func (s *Store) noDownload(a recipe.Artifact) string {
	if s.download != nil || a.Scheme() != recipe.SchemeS3 {
		return ""
	}
	return " (the nucleus downloads s3:// artifacts only with the token exchange service: iotCredEndpoint and iotRoleAlias in the device configuration)"
}

// inside returns p with symbolic links resolved when it is a regular file
// within one of dirs (empty ones are skipped), and ErrOutsideArtifactFolders
// otherwise.
func inside(p string, dirs ...string) (string, error) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("artifact file %s: %w", p, err)
	}
	var named []string
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		named = append(named, dir)
		realDir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(realDir, resolved); err == nil && filepath.IsLocal(rel) {
			fi, err := os.Stat(resolved)
			if err != nil {
				return "", err
			}
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("artifact %s is not a regular file: an artifact is a file", p)
			}
			return resolved, nil
		}
	}
	what := p
	if resolved != p {
		what = fmt.Sprintf("%s (a link to %s)", p, resolved)
	}
	return "", fmt.Errorf("%w: %s is outside %s: put the file beside the recipe or in the artifact folder",
		ErrOutsideArtifactFolders, what, strings.Join(named, " and "))
}

// copyChecked copies src to dst while hashing it, and refuses the copy when
// the recipe's digest does not match. With src == dst (a download moved
// into place) it only checks.
func copyChecked(src, dst string, a recipe.Artifact, content hash.Hash) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var out *os.File
	var w io.Writer = content
	if src != dst {
		if out, err = os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600); err != nil {
			return err
		}
		defer out.Close()
		w = io.MultiWriter(out, content)
	}
	var h hash.Hash
	if a.Digest != "" {
		alg := normalAlgorithm(a.Algorithm)
		if alg != "" && alg != "SHA256" {
			return fmt.Errorf("digest algorithm %q is not supported: use SHA-256", a.Algorithm)
		}
		h = sha256.New()
		w = io.MultiWriter(w, h)
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return err
		}
	}
	if h != nil {
		got := base64.StdEncoding.EncodeToString(h.Sum(nil))
		if got != a.Digest {
			return fmt.Errorf("%w: %s hashes to %s but the recipe says %s: rebuild the artifact or update the recipe's Digest", ErrDigestMismatch, src, got, a.Digest)
		}
	}
	return nil
}

// fileMode turns a recipe Permission into file mode bits. Artifacts stay
// read-only: the store replaces whole versions, it never edits in place.
// OWNER is Greengrass's "the system user that runs the component": the
// nucleus owns the file and the component's group is given it before its
// steps run (lifecycle Component.Artifacts), so OWNER sets the owner and
// group bits and the component cannot change the mode.
func fileMode(p recipe.Permission) fs.FileMode {
	var m fs.FileMode
	switch strings.ToUpper(p.Read) {
	case "ALL":
		m |= 0o444
	case "NONE":
	default: // OWNER is Greengrass's default
		m |= 0o440
	}
	switch strings.ToUpper(p.Execute) {
	case "ALL":
		m |= 0o111
	case "OWNER":
		m |= 0o110
	}
	return m
}

// unzip extracts archive into dir, refusing any entry that would escape dir
// or that is a symbolic link, and an archive over the store's bounds, before
// writing anything. The bound uses the sizes the archive declares:
// archive/zip refuses an entry whose content is longer than its declared size.
func (s *Store) unzip(archive, dir string, mode fs.FileMode) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("not a readable ZIP archive: %w", err)
	}
	defer zr.Close()
	if len(zr.File) > s.maxEntries {
		return fmt.Errorf("%w: it holds %d entries, over the limit of %d: split it into several artifacts", ErrArchiveTooLarge, len(zr.File), s.maxEntries)
	}
	var total uint64
	for _, f := range zr.File {
		if err := checkEntry(f); err != nil {
			return err
		}
		total += f.UncompressedSize64
		if total > s.maxBytes || total < f.UncompressedSize64 {
			return fmt.Errorf("%w: it unpacks to more than %d bytes: split it into several artifacts or ship it without Unarchive", ErrArchiveTooLarge, s.maxBytes)
		}
	}
	for _, f := range zr.File {
		target := filepath.Join(dir, filepath.FromSlash(f.Name))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := extract(f, target, mode|entryExec(f)); err != nil {
			return err
		}
	}
	return nil
}

func checkEntry(f *zip.File) error {
	name := f.Name
	if f.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %q is a symbolic link: archives may hold only files and folders", ErrUnsafeArchive, name)
	}
	if strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || filepath.IsAbs(name) || !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("%w: %q would land outside the unarchive folder: use relative paths without ..", ErrUnsafeArchive, name)
	}
	return nil
}

// entryExec keeps execute bits an archive entry carries, so unarchived
// scripts stay runnable for their owner (the nucleus and the component's
// group, as fileMode's OWNER).
func entryExec(f *zip.File) fs.FileMode {
	if f.Mode()&0o100 != 0 {
		return 0o110
	}
	return 0
}

func extract(f *zip.File, target string, mode fs.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}
