package recipe

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sward-iot/sward/shared/strictjson"
)

// Artifact is a file a component needs on the device.
type Artifact struct {
	// URI is where the artifact comes from: s3://bucket/key, greengrass:name,
	// docker:image[:tag|@digest], or file:path for local development.
	URI string
	// Digest is the base64 hash of the file; Algorithm names the hash
	// (SHA-256 when Digest is set and Algorithm is not).
	Digest, Algorithm string
	// Unarchive is UnarchiveNone or UnarchiveZIP.
	Unarchive  string
	Permission Permission
}

// Permission is the access a component's artifact gets on the device.
type Permission struct {
	// Read and Execute are PermNone, PermOwner or PermAll.
	Read, Execute string
}

// Artifact option values.
const (
	UnarchiveNone = "NONE"
	UnarchiveZIP  = "ZIP"

	PermNone  = "NONE"
	PermOwner = "OWNER"
	PermAll   = "ALL"

	AlgorithmSHA256 = "SHA-256"
)

// URI schemes an artifact may use.
const (
	SchemeS3         = "s3"
	SchemeGreengrass = "greengrass"
	SchemeDocker     = "docker"
	// SchemeFile is Sward's addition for local development: the deployment
	// engine copies the file from the device's disk. Publishing to the cloud
	// replaces it with s3:.
	SchemeFile = "file"
)

// digestSizes are the hash algorithms an artifact may name, with their
// digest length in bytes.
var digestSizes = map[string]int{"SHA-256": 32, "SHA-384": 48, "SHA-512": 64}

// Scheme returns the URI scheme in lower case ("s3", "file", ...).
func (a Artifact) Scheme() string {
	scheme, _, _ := strings.Cut(a.URI, ":")
	return strings.ToLower(scheme)
}

// FileName returns the last path segment of the URI, the name the artifact
// has in the component's artifact folder.
func (a Artifact) FileName() string {
	_, rest, found := strings.Cut(a.URI, ":")
	if !found {
		rest = a.URI
	}
	rest = strings.TrimRight(rest, "/")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		return rest[i+1:]
	}
	return rest
}

// LocalPath returns the path of a file: artifact ("" for other schemes):
// file:/abs and file:///abs are absolute, file:rel and file://rel are
// relative to the folder of the recipe that names them.
func (a Artifact) LocalPath() string {
	if a.Scheme() != SchemeFile {
		return ""
	}
	_, rest, _ := strings.Cut(a.URI, ":")
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
	}
	return rest
}

// Unarchived reports whether the artifact is an archive to extract.
func (a Artifact) Unarchived() bool { return strings.EqualFold(a.Unarchive, UnarchiveZIP) }

func (d *decoder) artifacts(path string, f *fields) []Artifact {
	v, ok := f.take("Artifacts")
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		d.errorf(path, "is %s; it must be a list of artifacts, each with a URI", describe(v))
		return nil
	}
	out := make([]Artifact, 0, len(list))
	firstUse := map[string]int{}
	for i, e := range list {
		p := index(path, i)
		if e == nil {
			d.errorf(p, "is empty (null); remove the empty list item or give it a URI")
			continue
		}
		a, ok := d.artifact(p, e)
		if !ok {
			continue
		}
		if s := a.Scheme(); s == SchemeGreengrass || s == SchemeDocker {
			// Greengrass's recipes with them must parse; `sward recipe
			// validate` says what a deployment will do with them.
			d.warnf(join(p, "URI"), "%s: artifacts are not supported by Sward yet: a deployment of this manifest fails; use s3://bucket/key (sward publish)", s)
		}
		if a.Scheme() != SchemeDocker {
			name := a.FileName()
			if j, dup := firstUse[name]; dup {
				d.errorf(join(p, "URI"), "has file name %q like %s; artifact file names must be unique within a manifest, rename one", name, index(path, j))
			} else {
				firstUse[name] = i
			}
		}
		out = append(out, a)
	}
	return out
}

func (d *decoder) artifact(path string, v any) (Artifact, bool) {
	a := Artifact{Unarchive: UnarchiveNone, Permission: Permission{Read: PermOwner, Execute: PermNone}}
	f := d.object(path, v, "with a URI")
	if f == nil {
		return a, false
	}
	defer f.ignoreRest("URI, Digest, Algorithm, Unarchive, Permission")
	before := len(d.errs)

	a.URI = f.text("URI", join(path, "URI"))
	d.checkURI(join(path, "URI"), a.URI)

	a.Digest = f.text("Digest", join(path, "Digest"))
	a.Algorithm = strings.ToUpper(f.text("Algorithm", join(path, "Algorithm")))
	if a.Algorithm == "SHA256" {
		a.Algorithm = AlgorithmSHA256
	}
	if a.Digest != "" && a.Algorithm == "" {
		a.Algorithm = AlgorithmSHA256
	}
	if a.Algorithm != "" {
		if size, known := digestSizes[a.Algorithm]; !known {
			d.errorf(join(path, "Algorithm"), "%q is not a supported hash; use SHA-256", strictjson.Truncate(a.Algorithm))
		} else if a.Digest != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Digest)
			if err != nil || len(raw) != size {
				d.errorf(join(path, "Digest"), "is not a base64 %s digest (%d bytes); write base64 of the file's hash, as `openssl dgst -sha256 -binary FILE | base64` prints", a.Algorithm, size)
			}
		}
	}

	switch u := strings.ToUpper(f.text("Unarchive", join(path, "Unarchive"))); u {
	case "", UnarchiveNone:
	case UnarchiveZIP:
		a.Unarchive = UnarchiveZIP
	default:
		d.errorf(join(path, "Unarchive"), "%q is not an archive type; use NONE or ZIP", strictjson.Truncate(u))
	}

	if pv, ok := f.take("Permission"); ok && pv != nil {
		pp := join(path, "Permission")
		if pf := d.object(pp, pv, "with Read and Execute"); pf != nil {
			a.Permission.Read = d.permission(join(pp, "Read"), pf.text("Read", join(pp, "Read")), PermOwner)
			a.Permission.Execute = d.permission(join(pp, "Execute"), pf.text("Execute", join(pp, "Execute")), PermNone)
			pf.ignoreRest("Read, Execute")
		}
	}
	return a, len(d.errs) == before
}

func (d *decoder) permission(path, v, def string) string {
	switch u := strings.ToUpper(v); u {
	case "":
		return def
	case PermNone, PermOwner, PermAll:
		return u
	}
	d.errorf(path, "%q is not a permission; use NONE, OWNER or ALL", strictjson.Truncate(v))
	return def
}

func (d *decoder) checkURI(path, uri string) {
	if uri == "" {
		d.errorf(path, "is missing; give the artifact's location such as s3://bucket/key or file:/path/to/file")
		return
	}
	scheme, rest, found := strings.Cut(uri, ":")
	if !found {
		d.errorf(path, "%q has no scheme; write s3://bucket/key, or file:/path for local development", strictjson.Truncate(uri))
		return
	}
	bad := func(form string) {
		d.errorf(path, "%q is not a valid %s URI; write %s", strictjson.Truncate(uri), strings.ToLower(scheme), form)
	}
	switch strings.ToLower(scheme) {
	case SchemeS3:
		// s3://bucket-only.zip is accepted: Greengrass's local deployments
		// and public recipes use such placeholders, and only a download
		// needs a key.
		bucket, _, _ := strings.Cut(strings.TrimPrefix(rest, "//"), "/")
		if !strings.HasPrefix(rest, "//") || bucket == "" || strings.HasSuffix(rest, "/") {
			bad("s3://bucket/path/to/file")
		}
	case SchemeGreengrass, SchemeDocker:
		if rest == "" || strings.HasSuffix(rest, "/") {
			bad(strings.ToLower(scheme) + ":name")
		}
	case SchemeFile:
		p := strings.TrimPrefix(rest, "//")
		if p == "" || strings.HasSuffix(p, "/") {
			bad("file:/path/to/file (a file, not a folder)")
		}
	default:
		// greengrass: and docker: parse, so that Greengrass's recipes do,
		// but a deployment refuses them until the nucleus installs them.
		d.errorf(path, "scheme %q is not supported; use s3://bucket/key, or file: for local development", strictjson.Truncate(scheme))
	}
}

// String describes the artifact for logs.
func (a Artifact) String() string { return fmt.Sprintf("%s (%s)", a.FileName(), a.URI) }

// Digest is the artifact digest Greengrass recipes carry for data: base64
// of its SHA-256 (Algorithm SHA-256).
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// FileDigest is Digest of the file at path, read in a stream.
func FileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
