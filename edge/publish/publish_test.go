package publish

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/shared/recipe"
	"github.com/sward-iot/sward/shared/release"
	"github.com/sward-iot/sward/shared/stack"
)

var moto *testutil.Moto

func TestMain(m *testing.M) {
	var err error
	// A missing moto_server fails the package: `make tools` installs it.
	moto, err = testutil.StartMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge/publish:", err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

const testGroup = "sward-devices"

// recording is an S3 client that remembers the keys it put, in order.
type recording struct {
	*s3.Client
	mu   sync.Mutex
	puts []string
}

func (r *recording) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.mu.Lock()
	r.puts = append(r.puts, aws.ToString(in.Key))
	r.mu.Unlock()
	return r.Client.PutObject(ctx, in, opts...)
}

func (r *recording) Puts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.puts)
	r.puts = nil
	return out
}

var bucketSeq atomic.Int32

// newBucket makes an empty bucket in moto and a recording client for it.
func newBucket(t *testing.T) (*recording, string) {
	t.Helper()
	c := &recording{Client: s3.NewFromConfig(moto.Config(), func(o *s3.Options) { o.UsePathStyle = true })}
	name := fmt.Sprintf("publish-test-%d", bucketSeq.Add(1))
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	return c, name
}

// repo is a git repository holding recipes/, with artifacts beside it.
type repo struct {
	t         *testing.T
	dir       string
	artifacts string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, dir: filepath.Join(t.TempDir(), "repo"), artifacts: filepath.Join(t.TempDir(), "artifacts")}
	r.git("init", "--quiet", r.dir)
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Sward Test", "-c", "user.email=test@sward.invalid"}, args...)...)
	if args[0] != "init" {
		cmd.Args = append([]string{"git", "-C", r.dir}, cmd.Args[1:]...)
	}
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// component writes a recipe with one s3: artifact built into the artifact
// folder (as make artifacts does) and one file: artifact beside it.
func (r *repo) component(name, version, binary string) {
	r.t.Helper()
	write(r.t, filepath.Join(r.dir, "recipes", name, "recipe.yaml"), fmt.Sprintf(`---
RecipeFormatVersion: "2020-01-25"
ComponentName: %s
ComponentVersion: "%s"
# A comment publish keeps.
Manifests:
  - Platform: {os: linux}
    Lifecycle:
      Run: "{artifacts:path}/app"
    Artifacts:
      - URI: s3://sward-artifacts/%s/%s/app
        Permission: {Read: OWNER, Execute: OWNER}
      - uri: file:settings.txt
`, name, version, name, version))
	write(r.t, filepath.Join(r.dir, "recipes", name, "settings.txt"), "settings of "+name)
	write(r.t, filepath.Join(r.artifacts, name, version, "app"), binary)
}

func (r *repo) commit() string {
	r.t.Helper()
	r.git("add", "--all")
	r.git("commit", "--quiet", "-m", "change")
	return r.git("rev-parse", "HEAD")
}

func (r *repo) options(c *recording, bucket string) Options {
	return Options{Recipes: filepath.Join(r.dir, "recipes"), Artifacts: r.artifacts, Bucket: bucket, Group: testGroup, S3: c}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:])
}

func readObject(t *testing.T, c *recording, bucket, key string) []byte {
	t.Helper()
	out, err := c.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPublishUploadsArtifactsThenRecipesThenTheManifestLast(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	r.component("com.example.B", "2.1.0", "binary B")
	commit := r.commit()
	c, bucket := newBucket(t)

	res, err := Publish(context.Background(), r.options(c, bucket))
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != commit || res.JobID != release.JobID(commit) || res.Uploaded != 4 || res.Skipped != 0 {
		t.Errorf("result %+v; want commit %s, job %s, 4 artifacts uploaded", res, commit, release.JobID(commit))
	}
	if want := []string{"com.example.A@1.0.0", "com.example.B@2.1.0"}; !slices.Equal(res.Changed, want) {
		t.Errorf("changed %v, want %v (the first release)", res.Changed, want)
	}

	want := []string{
		"artifacts/com.example.A/1.0.0/app", "artifacts/com.example.A/1.0.0/settings.txt",
		"artifacts/com.example.B/2.1.0/app", "artifacts/com.example.B/2.1.0/settings.txt",
		release.RecipeKey(commit, "com.example.A", "1.0.0"), release.RecipeKey(commit, "com.example.B", "2.1.0"),
		release.ManifestKey(commit), release.LastReleaseKey(testGroup),
	}
	if got := c.Puts(); !slices.Equal(got, want) {
		t.Errorf("PUTs in this order:\n%s\nwant (artifacts, recipes, the manifest last, then the marker):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	m, err := release.Decode(readObject(t, c, bucket, release.ManifestKey(commit)))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.CommitID != commit || m.ThingGroup != testGroup || len(m.Components) != 2 {
		t.Errorf("manifest %+v", m)
	}
	a := m.Components["com.example.A"]
	if want := []release.Object{{Key: "artifacts/com.example.A/1.0.0/app", SHA256: sum("binary A")}, {Key: "artifacts/com.example.A/1.0.0/settings.txt", SHA256: sum("settings of com.example.A")}}; !slices.Equal(a.Artifacts, want) {
		t.Errorf("A's artifacts %v, want %v", a.Artifacts, want)
	}

	data := readObject(t, c, bucket, a.Recipe.Key)
	if sum(string(data)) != a.Recipe.SHA256 {
		t.Errorf("recipe SHA-256 %s, manifest says %s", sum(string(data)), a.Recipe.SHA256)
	}
	if !strings.Contains(string(data), "# A comment publish keeps.") {
		t.Errorf("the published recipe lost its comment:\n%s", data)
	}
	rec, err := recipe.Parse(a.Recipe.Key, data)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Manifests[0].Artifacts
	if got[0].URI != "s3://"+bucket+"/artifacts/com.example.A/1.0.0/app" || got[0].Digest != sum("binary A") || got[0].Algorithm != recipe.AlgorithmSHA256 || got[0].Permission.Execute != recipe.PermOwner {
		t.Errorf("artifact 0 published as %+v", got[0])
	}
	if got[1].URI != "s3://"+bucket+"/artifacts/com.example.A/1.0.0/settings.txt" || got[1].Digest != sum("settings of com.example.A") {
		t.Errorf("artifact 1 (file:) published as %+v", got[1])
	}
	if err := m.CheckRecipes(map[string]*recipe.Recipe{"com.example.A": rec, "com.example.B": mustParse(t, readObject(t, c, bucket, m.Components["com.example.B"].Recipe.Key))}, bucket); err != nil {
		t.Errorf("the release Lambda's recipe checks: %v", err)
	}

	head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("artifacts/com.example.B/2.1.0/app"), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ChecksumSHA256) != sum("binary B") {
		t.Errorf("artifact stored with S3 checksum %q, want %s (the release Lambda compares it)", aws.ToString(head.ChecksumSHA256), sum("binary B"))
	}
}

func mustParse(t *testing.T, data []byte) *recipe.Recipe {
	t.Helper()
	r, err := recipe.Parse("recipe.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPublishSkipsArtifactsAlreadyInTheBucketWithTheSameDigest(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	r.component("com.example.B", "1.0.0", "binary B")
	r.commit()
	c, bucket := newBucket(t)
	if _, err := Publish(context.Background(), r.options(c, bucket)); err != nil {
		t.Fatal(err)
	}
	c.Puts()

	os.RemoveAll(filepath.Join(r.dir, "recipes", "com.example.B"))
	r.component("com.example.B", "1.0.1", "binary B, fixed")
	commit := r.commit()
	res, err := Publish(context.Background(), r.options(c, bucket))
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 2 || res.Skipped != 2 || !slices.Equal(res.Changed, []string{"com.example.B@1.0.1"}) {
		t.Errorf("result %+v; want B's 2 artifacts uploaded, A's 2 skipped, B changed", res)
	}
	want := []string{
		"artifacts/com.example.B/1.0.1/app", "artifacts/com.example.B/1.0.1/settings.txt",
		release.RecipeKey(commit, "com.example.A", "1.0.0"), release.RecipeKey(commit, "com.example.B", "1.0.1"),
		release.ManifestKey(commit), release.LastReleaseKey(testGroup),
	}
	if got := c.Puts(); !slices.Equal(got, want) {
		t.Errorf("PUTs:\n%s\nwant (A's artifacts not uploaded again; every recipe under the new commit):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPublishRefusesAChangedComponentWhoseVersionWasNotBumped(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	first := r.commit()
	c, bucket := newBucket(t)
	if _, err := Publish(context.Background(), r.options(c, bucket)); err != nil {
		t.Fatal(err)
	}
	c.Puts()

	recipeFile := filepath.Join(r.dir, "recipes", "com.example.A", "recipe.yaml")
	data, _ := os.ReadFile(recipeFile)
	write(t, recipeFile, strings.Replace(string(data), `Run: "{artifacts:path}/app"`, `Run: "{artifacts:path}/app -v"`, 1))
	r.commit()
	_, err := Publish(context.Background(), r.options(c, bucket))
	if !errors.Is(err, ErrNotBumped) {
		t.Fatalf("err = %v, want ErrNotBumped", err)
	}
	for _, want := range []string{"com.example.A", recipeFile, first, "recipe SHA-256", "→", "bump ComponentVersion"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if puts := c.Puts(); len(puts) != 0 {
		t.Errorf("a refused release uploaded %v", puts)
	}

	// The artifact changed too, and the recipe did not: refused as well.
	write(t, recipeFile, string(data))
	write(t, filepath.Join(r.artifacts, "com.example.A", "1.0.0", "app"), "binary A, rebuilt")
	r.commit()
	_, err = Publish(context.Background(), r.options(c, bucket))
	if !errors.Is(err, ErrNotBumped) || !strings.Contains(err.Error(), "artifact artifacts/com.example.A/1.0.0/app SHA-256 "+sum("binary A")+" → "+sum("binary A, rebuilt")) {
		t.Fatalf("err = %v, want ErrNotBumped naming the artifact's old and new digest", err)
	}
}

func TestPublishRefusesAnArtifactThatDiffersFromTheOneUploadedForItsVersion(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	r.commit()
	c, bucket := newBucket(t)
	// Uploaded before, by a release that is not the group's last.
	if _, err := c.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("artifacts/com.example.A/1.0.0/app"), Body: strings.NewReader("another binary")}); err != nil {
		t.Fatal(err)
	}
	_, err := Publish(context.Background(), r.options(c, bucket))
	if !errors.Is(err, ErrArtifactChanged) || !strings.Contains(err.Error(), sum("another binary")) || !strings.Contains(err.Error(), "bump") {
		t.Fatalf("err = %v, want ErrArtifactChanged with the bucket's digest and the fix", err)
	}
	if slices.Contains(c.Puts(), release.ManifestKey(r.git("rev-parse", "HEAD"))) {
		t.Error("the manifest was written")
	}
}

func TestPublishRefusesADirtyWorkingTreeUnlessAllowed(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	r.commit()
	write(t, filepath.Join(r.dir, "recipes", "com.example.A", "notes.txt"), "not committed")
	c, bucket := newBucket(t)

	_, err := Publish(context.Background(), r.options(c, bucket))
	if !errors.Is(err, ErrDirty) || !strings.Contains(err.Error(), "notes.txt") || !strings.Contains(err.Error(), "--allow-dirty") {
		t.Fatalf("err = %v, want ErrDirty naming the file and --allow-dirty", err)
	}
	if puts := c.Puts(); len(puts) != 0 {
		t.Errorf("a refused release uploaded %v", puts)
	}
	o := r.options(c, bucket)
	o.AllowDirty = true
	if _, err := Publish(context.Background(), o); err != nil {
		t.Fatalf("with AllowDirty: %v", err)
	}
}

func TestPublishWithNothingChangedPublishesNothingUnlessAll(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	first := r.commit()
	c, bucket := newBucket(t)
	if _, err := Publish(context.Background(), r.options(c, bucket)); err != nil {
		t.Fatal(err)
	}
	c.Puts()
	write(t, filepath.Join(r.dir, "README.md"), "docs only")
	second := r.commit()

	res, err := Publish(context.Background(), r.options(c, bucket))
	if err != nil {
		t.Fatal(err)
	}
	if !res.NothingChanged || res.Previous != first || res.ManifestKey != "" {
		t.Errorf("result %+v; want nothing changed since %s", res, first)
	}
	if puts := c.Puts(); len(puts) != 0 {
		t.Errorf("nothing changed, but uploaded %v", puts)
	}

	o := r.options(c, bucket)
	o.All = true
	res, err = Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.ManifestKey != release.ManifestKey(second) || res.Skipped != 2 {
		t.Errorf("with All: %+v; want the manifest of %s, both artifacts skipped", res, second)
	}
}

func TestPublishErrorsNameTheProblemAndTheFix(t *testing.T) {
	c, bucket := newBucket(t)
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	r.commit()
	notRepo := t.TempDir()
	write(t, filepath.Join(notRepo, "C", "recipe.yaml"), "RecipeFormatVersion: \"2020-01-25\"\nComponentName: C\nComponentVersion: \"1.0.0\"\n")

	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"short commit", func(o *Options) { o.Commit = "abc123" }, "not a full commit id"},
		{"no recipes folder", func(o *Options) { o.Recipes = filepath.Join(r.dir, "nope") }, "give --recipes"},
		{"missing artifact", func(o *Options) { o.Artifacts = t.TempDir() }, "make artifacts"},
		{"no bucket and no stack client", func(o *Options) { o.Bucket = "" }, "give the bucket and the group"},
		{"not a repository", func(o *Options) { o.Recipes = notRepo }, "--commit and --allow-dirty"},
		{"commit not checked out", func(o *Options) { o.Commit = strings.Repeat("ab", 20) }, "is not the checked-out commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := r.options(c, bucket)
			tc.edit(&o)
			_, err := Publish(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if puts := c.Puts(); len(puts) != 0 {
		t.Errorf("refused releases uploaded %v", puts)
	}
}

// fakeStacks answers DescribeStacks with outputs.
type fakeStacks map[string]string

func (f fakeStacks) DescribeStacks(_ context.Context, in *cfn.DescribeStacksInput, _ ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error) {
	if aws.ToString(in.StackName) != stack.Name {
		return nil, errors.New("stack does not exist")
	}
	var outs []cfntypes.Output
	for k, v := range f {
		outs = append(outs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cfn.DescribeStacksOutput{Stacks: []cfntypes.Stack{{Outputs: outs}}}, nil
}

func TestPublishReadsTheBucketAndGroupFromTheStackOutputs(t *testing.T) {
	r := newRepo(t)
	r.component("com.example.A", "1.0.0", "binary A")
	commit := r.commit()
	c, bucket := newBucket(t)
	o := r.options(c, "")
	o.Group = ""
	o.Stacks = fakeStacks{stack.OutputArtifactsBucketName: bucket, stack.OutputThingGroupName: "stack-group"}
	res, err := Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bucket != bucket || res.Group != "stack-group" {
		t.Errorf("published to %s/%s, want the stack's %s/stack-group", res.Bucket, res.Group, bucket)
	}
	m, err := release.Decode(readObject(t, c, bucket, release.ManifestKey(commit)))
	if err != nil || m.ThingGroup != "stack-group" {
		t.Errorf("manifest %+v, %v", m, err)
	}
}

func TestPublishRefusesWhatTheRecipesFolderGetsWrong(t *testing.T) {
	c, bucket := newBucket(t)
	for _, tc := range []struct {
		name  string
		setup func(r *repo)
		want  []string
	}{
		{"a committed digest that does not match the file", func(r *repo) {
			r.component("com.example.A", "1.0.0", "binary A")
			f := filepath.Join(r.dir, "recipes", "com.example.A", "recipe.yaml")
			data, _ := os.ReadFile(f)
			write(t, f, strings.Replace(string(data), "        Permission: {Read: OWNER, Execute: OWNER}", "        Digest: "+sum("another")+"\n        Permission: {Read: OWNER, Execute: OWNER}", 1))
		}, []string{"has Digest " + sum("another"), "remove the Digest"}},
		{"two versions of one component", func(r *repo) {
			r.component("com.example.A", "1.0.0", "binary A")
			data, _ := os.ReadFile(filepath.Join(r.dir, "recipes", "com.example.A", "recipe.yaml"))
			write(t, filepath.Join(r.dir, "recipes", "old", "recipe.yaml"), strings.ReplaceAll(string(data), "1.0.0", "0.9.0"))
			write(t, filepath.Join(r.dir, "recipes", "old", "settings.txt"), "old settings")
			write(t, filepath.Join(r.artifacts, "com.example.A", "0.9.0", "app"), "old binary")
		}, []string{"both recipes of com.example.A", "remove one"}},
		{"a missing dependency", func(r *repo) {
			r.component("com.example.A", "1.0.0", "binary A")
			f := filepath.Join(r.dir, "recipes", "com.example.A", "recipe.yaml")
			data, _ := os.ReadFile(f)
			write(t, f, strings.Replace(string(data), "# A comment publish keeps.", "ComponentDependencies:\n  com.example.Missing: {VersionRequirement: '>=1.0.0'}", 1))
		}, []string{"would be rejected", "com.example.Missing", "which the release does not contain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			tc.setup(r)
			r.commit()
			_, err := Publish(context.Background(), r.options(c, bucket))
			for _, want := range tc.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want one saying %q", err, want)
				}
			}
		})
	}
	if puts := c.Puts(); len(puts) != 0 {
		t.Errorf("refused releases uploaded %v", puts)
	}
}
