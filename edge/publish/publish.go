package publish

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/shared/stack"
)

// Objects is the part of S3 publishing calls (*s3.Client).
type Objects interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Stacks is the part of CloudFormation that resolves the stack's outputs
// (*cloudformation.Client).
type Stacks interface {
	DescribeStacks(context.Context, *cfn.DescribeStacksInput, ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error)
}

// Errors Publish wraps, so callers and tests can tell the refusals apart.
var (
	// ErrDirty: the working tree has changes that are not committed.
	ErrDirty = errors.New("the working tree has uncommitted changes")
	// ErrNotBumped: a component changed under a version already released.
	ErrNotBumped = errors.New("a changed component keeps its released version")
	// ErrArtifactChanged: the bucket holds another file under the key of an
	// artifact of the same component version.
	ErrArtifactChanged = errors.New("an artifact differs from the one uploaded for its version")
)

// Options say what to publish and where.
type Options struct {
	// Recipes is the folder of recipes (default "recipes"). It must be in
	// a git working tree unless Commit is given and AllowDirty is set.
	Recipes string
	// Artifacts is the artifact folder, <Artifacts>/<Name>/<Version>/<file>
	// (default "build/artifacts", what `make artifacts` writes).
	Artifacts string
	// Bucket and Group are the artifacts bucket and the thing group;
	// either missing is read from the stack's outputs.
	Bucket, Group string
	// Stack is the SwardCloud stack (default stack.Name), read only when
	// Bucket or Group is missing.
	Stack string
	// Commit is the commit id released, the checked-out one (default:
	// git rev-parse HEAD).
	Commit string
	// All publishes even when nothing changed since the last release.
	All bool
	// AllowDirty publishes a working tree with uncommitted changes, or
	// under a Commit other than the checked-out one.
	AllowDirty bool
	// Git is the git binary (default "git" on PATH).
	Git string
	// S3 is required; Stacks only when the stack is read.
	S3     Objects
	Stacks Stacks
	// Progress receives a line per step (default: discarded).
	Progress io.Writer
}

// Result is what was published.
type Result struct {
	Commit, Bucket, Group string
	// JobID is the IoT job the release Lambda creates for the release.
	JobID string
	// ManifestKey is the manifest written ("" when nothing was published).
	ManifestKey string
	// Previous is the commit of the group's last release ("" for none).
	Previous string
	// Components are the component versions released (Name@Version);
	// Changed those new or changed since the previous release.
	Components, Changed []string
	// Uploaded and Skipped count the artifacts put and those found in the
	// bucket with the same SHA-256.
	Uploaded, Skipped int
	// NothingChanged: nothing was published, as nothing changed since
	// Previous and All was not set.
	NothingChanged bool
}

// component is one recipe ready to publish.
type component struct {
	file      string         // the recipe file in the folder
	r         *recipe.Recipe // the published recipe
	data      []byte         // the rewritten recipe
	sha256    string
	artifacts []artifact // sorted by key
}

// artifact is one file to upload.
type artifact struct {
	key, path, sha256 string
}

// Publish runs the steps in the package comment.
func Publish(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	commit, err := o.commit(ctx)
	if err != nil {
		return nil, err
	}
	if o.Bucket == "" || o.Group == "" {
		out, err := Outputs(ctx, o.Stacks, o.Stack)
		if err != nil {
			return nil, err
		}
		o.Bucket = cmp.Or(o.Bucket, out[stack.OutputArtifactsBucketName])
		o.Group = cmp.Or(o.Group, out[stack.OutputThingGroupName])
		if o.Bucket == "" || o.Group == "" {
			return nil, fmt.Errorf("stack %s has no %s or %s output: deploy the current stack (npx cdk deploy), or give --bucket and --group", o.Stack, stack.OutputArtifactsBucketName, stack.OutputThingGroupName)
		}
	}
	res := &Result{Commit: commit, Bucket: o.Bucket, Group: o.Group, JobID: release.JobID(commit)}

	comps, err := o.prepare()
	if err != nil {
		return nil, err
	}
	prev, err := o.lastRelease(ctx)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		res.Previous = prev.CommitID
	}
	for _, name := range slices.Sorted(maps.Keys(comps)) {
		res.Components = append(res.Components, comps[name].r.ID())
	}
	res.Changed, err = changes(comps, prev)
	if err != nil {
		return nil, err
	}
	removed := prev != nil && slices.ContainsFunc(slices.Collect(maps.Keys(prev.Components)), func(n string) bool { return comps[n] == nil })
	if !o.All && prev != nil && len(res.Changed) == 0 && !removed {
		res.NothingChanged = true
		fmt.Fprintf(o.Progress, "nothing changed since release %s of %s: nothing to publish (--all publishes anyway)\n", prev.CommitID, o.Group)
		return res, nil
	}
	if prev != nil && prev.CommitID == commit {
		return nil, fmt.Errorf("commit %s is already released to %s, with other content: a commit is released once (job %s); commit the change and publish the new commit", commit, o.Group, res.JobID)
	}

	m, manifest, err := o.manifest(commit, comps)
	if err != nil {
		return nil, err
	}
	if err := o.upload(ctx, comps, m, manifest, res); err != nil {
		return nil, err
	}
	return res, nil
}

// manifest builds the release of comps and checks it as the release
// Lambda will, before anything is uploaded.
func (o *Options) manifest(commit string, comps map[string]*component) (*release.Manifest, []byte, error) {
	m := &release.Manifest{
		FormatVersion: release.FormatVersion,
		CommitID:      commit,
		ThingGroup:    o.Group,
		Components:    map[string]release.Component{},
		Policies:      deployment.DefaultPolicies(),
	}
	parsed := map[string]*recipe.Recipe{}
	for name, c := range comps {
		rc := release.Component{Version: c.r.Version, Recipe: release.Object{Key: release.RecipeKey(commit, name, c.r.Version), SHA256: c.sha256}}
		for _, a := range c.artifacts {
			rc.Artifacts = append(rc.Artifacts, release.Object{Key: a.key, SHA256: a.sha256})
		}
		m.Components[name] = rc
		parsed[name] = c.r
	}
	if err := m.CheckRecipes(parsed, o.Bucket); err != nil {
		return nil, nil, fmt.Errorf("the release would be rejected: %w", err)
	}
	data, err := m.Encode()
	if err != nil {
		return nil, nil, fmt.Errorf("the release would be rejected: %w", err)
	}
	return m, data, nil
}

// upload puts the artifacts, then the recipes, then the manifest, then the
// last-release marker, counting the artifacts in res.
func (o *Options) upload(ctx context.Context, comps map[string]*component, m *release.Manifest, manifest []byte, res *Result) error {
	names := slices.Sorted(maps.Keys(comps))
	for _, name := range names {
		for _, a := range comps[name].artifacts {
			uploaded, err := o.uploadArtifact(ctx, a)
			if err != nil {
				return err
			}
			if uploaded {
				res.Uploaded++
				fmt.Fprintf(o.Progress, "uploaded   s3://%s/%s\n", o.Bucket, a.key)
			} else {
				res.Skipped++
				fmt.Fprintf(o.Progress, "unchanged  s3://%s/%s\n", o.Bucket, a.key)
			}
		}
	}
	for _, name := range names {
		c := comps[name]
		key := m.Components[name].Recipe.Key
		if err := o.put(ctx, key, bytes.NewReader(c.data), c.sha256); err != nil {
			return err
		}
		fmt.Fprintf(o.Progress, "recipe     s3://%s/%s\n", o.Bucket, key)
	}
	// Last: the release Lambda's trigger.
	res.ManifestKey = release.ManifestKey(m.CommitID)
	if err := o.put(ctx, res.ManifestKey, bytes.NewReader(manifest), recipe.Digest(manifest)); err != nil {
		return err
	}
	fmt.Fprintf(o.Progress, "manifest   s3://%s/%s\n", o.Bucket, res.ManifestKey)
	marker, err := json.Marshal(release.LastRelease{CommitID: m.CommitID})
	if err != nil {
		return err
	}
	if err := o.put(ctx, release.LastReleaseKey(o.Group), bytes.NewReader(marker), recipe.Digest(marker)); err != nil {
		// The release is out; only the next publish's comparison is older.
		return fmt.Errorf("release %s is published, but the last-release marker was not written (the next publish compares with release %s): %w", m.CommitID, res.Previous, err)
	}
	return nil
}

func (o *Options) defaults() error {
	if o.Recipes == "" {
		o.Recipes = "recipes"
	}
	if o.Artifacts == "" {
		o.Artifacts = filepath.Join("build", "artifacts")
	}
	if o.Stack == "" {
		o.Stack = stack.Name
	}
	if o.Git == "" {
		o.Git = "git"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.S3 == nil {
		return errors.New("publish: no S3 client")
	}
	if (o.Bucket == "" || o.Group == "") && o.Stacks == nil {
		return errors.New("publish: no CloudFormation client to read the stack's outputs with; give the bucket and the group")
	}
	if o.Commit != "" && !validCommit(o.Commit) {
		return fmt.Errorf("--commit %q is not a full commit id; give the 40 (SHA-1) or 64 (SHA-256) lowercase hex digits of `git rev-parse HEAD`", o.Commit)
	}
	if fi, err := os.Stat(o.Recipes); err != nil || !fi.IsDir() {
		return fmt.Errorf("recipes folder %s: not a folder; give --recipes the folder of <Component>/recipe.yaml", o.Recipes)
	}
	return nil
}

func validCommit(c string) bool { return release.CheckCommit(c) == nil }

// commit checks the working tree and returns the commit released.
func (o *Options) commit(ctx context.Context) (string, error) {
	g := git{bin: o.Git, dir: o.Recipes}
	top, err := g.run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		if o.Commit != "" && o.AllowDirty {
			return o.Commit, nil // not a repository: the caller names the commit
		}
		return "", fmt.Errorf("%s is not in a git working tree (%v): publish from a clone of the repository, or give --commit and --allow-dirty", o.Recipes, err)
	}
	if !o.AllowDirty {
		status, err := g.run(ctx, "-C", top, "status", "--porcelain")
		if err != nil {
			return "", err
		}
		if status != "" {
			lines := strings.Split(status, "\n")
			if len(lines) > 10 {
				lines = append(lines[:10], fmt.Sprintf("… and %d more", len(lines)-10))
			}
			return "", fmt.Errorf("%w in %s:\n%s\ncommit them (a release is a commit, so devices run what the history shows), or pass --allow-dirty", ErrDirty, top, strings.Join(lines, "\n"))
		}
	}
	head, err := g.run(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("%v: make a first commit, or give --commit", err)
	}
	if o.Commit != "" && o.Commit != head && !o.AllowDirty {
		return "", fmt.Errorf("--commit %s is not the checked-out commit %s, whose files would be released under its id: check out %s, or leave --commit out", o.Commit, head, o.Commit)
	}
	return cmp.Or(o.Commit, head), nil
}

// prepare loads the recipes, digests their artifacts and rewrites them.
func (o *Options) prepare() (map[string]*component, error) {
	recipes, err := recipe.LoadDir(o.Recipes)
	if err != nil {
		return nil, err
	}
	if len(recipes) == 0 {
		return nil, fmt.Errorf("no recipes under %s: give --recipes the folder of <Component>/recipe.yaml", o.Recipes)
	}
	comps := map[string]*component{}
	var errs []error
	for _, r := range recipes {
		if other, dup := comps[r.Name]; dup {
			errs = append(errs, fmt.Errorf("%s and %s are both recipes of %s: a release deploys one version of each component; remove one", other.file, r.File, r.Name))
			continue
		}
		c, err := o.component(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		comps[r.Name] = c
	}
	return comps, errors.Join(errs...)
}

// component finds and digests r's artifacts and rewrites its recipe.
func (o *Options) component(r *recipe.Recipe) (*component, error) {
	rewrites := map[string]rewrite{}
	byKey := map[string]artifact{}
	for _, m := range r.Manifests {
		for _, a := range m.Artifacts {
			switch a.Scheme() {
			case recipe.SchemeS3, recipe.SchemeFile:
			default:
				continue // greengrass: and docker: are fetched by other means
			}
			if _, done := rewrites[a.URI]; done {
				continue
			}
			path, err := o.source(r, a)
			if err != nil {
				return nil, err
			}
			sum, err := recipe.FileDigest(path)
			if err != nil {
				return nil, fmt.Errorf("artifact %s of %s: %w", a.URI, r.ID(), err)
			}
			if a.Digest != "" && (a.Algorithm == "" || a.Algorithm == recipe.AlgorithmSHA256) && a.Digest != sum {
				return nil, fmt.Errorf("%s: artifact %s has Digest %s but %s has SHA-256 %s: remove the Digest from the recipe (publish writes it) or rebuild the file", r.File, a.URI, a.Digest, path, sum)
			}
			key := release.ArtifactKey(r.Name, r.Version, a.FileName())
			if prev, dup := byKey[key]; dup && prev.sha256 != sum {
				return nil, fmt.Errorf("%s: two artifacts named %s (%s and %s) differ; one version's files share one folder in the bucket, so rename one", r.File, a.FileName(), prev.path, path)
			}
			byKey[key] = artifact{key: key, path: path, sha256: sum}
			rewrites[a.URI] = rewrite{uri: "s3://" + o.Bucket + "/" + key, digest: sum}
		}
	}
	src, err := os.ReadFile(r.File)
	if err != nil {
		return nil, err
	}
	data, err := rewriteRecipe(src, rewrites)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.File, err)
	}
	published, err := recipe.Parse(release.RecipeKey("<commit>", r.Name, r.Version), data) // .yaml: what publish writes
	if err != nil {
		return nil, fmt.Errorf("%s: the rewritten recipe does not parse (a bug in sward publish): %w", r.File, err)
	}
	c := &component{file: r.File, r: published, data: data, sha256: recipe.Digest(data)}
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		c.artifacts = append(c.artifacts, byKey[k])
	}
	return c, nil
}

// source is the file of artifact a on this machine.
func (o *Options) source(r *recipe.Recipe, a recipe.Artifact) (string, error) {
	dir := filepath.Dir(r.File)
	if a.Scheme() == recipe.SchemeFile {
		p := a.LocalPath()
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if !regular(p) {
			return "", fmt.Errorf("%s: artifact %s: %s is not a file; fix the URI", r.File, a.URI, p)
		}
		return p, nil
	}
	built := filepath.Join(o.Artifacts, r.Name, r.Version, a.FileName())
	if regular(built) {
		return built, nil
	}
	if beside := filepath.Join(dir, a.FileName()); regular(beside) {
		return beside, nil
	}
	return "", fmt.Errorf("%s: artifact %s: no file %s (nor %s beside the recipe): build the artifacts first (make artifacts), or give --artifacts the folder they are in", r.File, a.URI, built, a.FileName())
}

func regular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// changes returns the component versions new or changed since prev, and
// refuses those changed under a released version.
func changes(comps map[string]*component, prev *release.Manifest) ([]string, error) {
	var changed []string
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(comps)) {
		c := comps[name]
		if prev == nil {
			changed = append(changed, c.r.ID())
			continue
		}
		old, ok := prev.Components[name]
		if !ok || old.Version != c.r.Version {
			changed = append(changed, c.r.ID())
			continue
		}
		var diffs []string
		if old.Recipe.SHA256 != c.sha256 {
			diffs = append(diffs, fmt.Sprintf("recipe SHA-256 %s → %s", old.Recipe.SHA256, c.sha256))
		}
		was := map[string]string{}
		for _, a := range old.Artifacts {
			was[a.Key] = a.SHA256
		}
		for _, a := range c.artifacts {
			if w, ok := was[a.key]; !ok {
				diffs = append(diffs, fmt.Sprintf("new artifact %s", a.key))
			} else if w != a.sha256 {
				diffs = append(diffs, fmt.Sprintf("artifact %s SHA-256 %s → %s", a.key, w, a.sha256))
			}
		}
		if len(diffs) > 0 {
			errs = append(errs, fmt.Errorf("%w: %s (%s) changed since release %s but is still version %s: %s; bump ComponentVersion (devices that cached %s would keep the old one)",
				ErrNotBumped, name, c.file, prev.CommitID, c.r.Version, strings.Join(diffs, "; "), c.r.ID()))
		}
	}
	return changed, errors.Join(errs...)
}

// ErrNoRelease is returned by LastRelease when the group has none.
var ErrNoRelease = errors.New("no release published")

// LastRelease returns the commit of the last release published to group
// in bucket (the LastReleaseKey marker), or ErrNoRelease.
func LastRelease(ctx context.Context, objects Objects, bucket, group string) (string, error) {
	key := release.LastReleaseKey(group)
	data, err := getObject(ctx, objects, bucket, key, 4<<10)
	if isNotFound(err) {
		return "", fmt.Errorf("%w to group %s in bucket %s (no %s): publish first, or name the commit", ErrNoRelease, group, bucket, key)
	}
	if err != nil {
		return "", fmt.Errorf("read the last release of %s (s3://%s/%s): %w", group, bucket, key, err)
	}
	var last release.LastRelease
	if err := json.Unmarshal(data, &last); err != nil || !validCommit(last.CommitID) {
		return "", fmt.Errorf("s3://%s/%s is not a last-release marker ({\"commitId\": …}): delete it, and the next publish compares with nothing", bucket, key)
	}
	return last.CommitID, nil
}

// lastRelease reads the group's last release, nil when there is none.
func (o *Options) lastRelease(ctx context.Context) (*release.Manifest, error) {
	commit, err := LastRelease(ctx, o.S3, o.Bucket, o.Group)
	if errors.Is(err, ErrNoRelease) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	mkey := release.ManifestKey(commit)
	data, err := o.get(ctx, mkey, release.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("read the last release's manifest s3://%s/%s: %w", o.Bucket, mkey, err)
	}
	m, err := release.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("the last release's manifest s3://%s/%s: %w", o.Bucket, mkey, err)
	}
	return m, nil
}

// uploadArtifact puts a unless the bucket has it with the same SHA-256; it
// reports whether it put.
func (o *Options) uploadArtifact(ctx context.Context, a artifact) (bool, error) {
	head, err := o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &a.key, ChecksumMode: s3types.ChecksumModeEnabled})
	switch {
	case isNotFound(err):
		f, err := os.Open(a.path)
		if err != nil {
			return false, err
		}
		defer f.Close()
		return true, o.put(ctx, a.key, f, a.sha256)
	case isForbidden(err):
		return false, fmt.Errorf("look up s3://%s/%s: %w; publishing needs s3:GetObject and s3:ListBucket on the bucket (without ListBucket, S3 answers 403 for an object that does not exist yet)", o.Bucket, a.key, err)
	case err != nil:
		return false, fmt.Errorf("look up s3://%s/%s: %w", o.Bucket, a.key, err)
	}
	sum := aws.ToString(head.ChecksumSHA256)
	if sum == "" || strings.Contains(sum, "-") || head.ChecksumType == s3types.ChecksumTypeComposite {
		// Uploaded by another tool without a full-object checksum: hash it.
		if sum, err = o.hashObject(ctx, a.key); err != nil {
			return false, err
		}
	}
	if sum != a.sha256 {
		return false, fmt.Errorf("%w: s3://%s/%s has SHA-256 %s, but %s has %s; the files of a released version never change, since devices cache them: bump the component's ComponentVersion", ErrArtifactChanged, o.Bucket, a.key, sum, a.path, a.sha256)
	}
	return false, nil
}

func (o *Options) hashObject(ctx context.Context, key string) (string, error) {
	out, err := o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.Bucket, Key: &key})
	if err != nil {
		return "", fmt.Errorf("read s3://%s/%s: %w", o.Bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return "", fmt.Errorf("read s3://%s/%s: %w", o.Bucket, key, err)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// put uploads body with its SHA-256, which S3 checks and keeps.
func (o *Options) put(ctx context.Context, key string, body io.ReadSeeker, sum string) error {
	_, err := o.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            &o.Bucket,
		Key:               aws.String(key),
		Body:              body,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(sum),
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", o.Bucket, key, err)
	}
	return nil
}

func (o *Options) get(ctx context.Context, key string, limit int64) ([]byte, error) {
	return getObject(ctx, o.S3, o.Bucket, key, limit)
}

func getObject(ctx context.Context, objects Objects, bucket, key string, limit int64) ([]byte, error) {
	out, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("s3://%s/%s is larger than %d bytes", bucket, key, limit)
	}
	return data, nil
}

func isNotFound(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}

func isForbidden(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "Forbidden" || api.ErrorCode() == "AccessDenied")
}

// Outputs returns the outputs of stack name.
func Outputs(ctx context.Context, stacks Stacks, name string) (map[string]string, error) {
	out, err := stacks.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: &name})
	if err != nil {
		return nil, fmt.Errorf("read stack %s: %w; deploy it (npx cdk deploy), pass --stack with its name, or give --bucket and --group", name, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %s not found: deploy it (npx cdk deploy), or give --bucket and --group", name)
	}
	outputs := map[string]string{}
	for _, op := range out.Stacks[0].Outputs {
		outputs[aws.ToString(op.OutputKey)] = aws.ToString(op.OutputValue)
	}
	return outputs, nil
}
