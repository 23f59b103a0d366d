package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sward-iot/sward/edge/artifacts"
	"github.com/sward-iot/sward/shared/recipe"
)

// nowhere is a real downloader with no S3 to reach: any download fails.
func nowhere(t *testing.T) Downloader {
	t.Helper()
	d, err := artifacts.New(artifacts.Options{AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}}, PathStyle: true, Attempts: 1, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAnS3ArtifactInTheArtifactFolderIsTakenFromThereNotDownloaded(t *testing.T) {
	data := []byte("built locally")
	dir := artifactDir(t, "com.example.App", "1.0.0", map[string][]byte{"app.bin": data})
	r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://b/app.bin", Digest: digest(data)}}}
	s := Open(Options{Root: t.TempDir(), Downloader: nowhere(t)})
	if err := s.Fetch(context.Background(), []Want{{Recipe: r, Selection: sel, ArtifactDir: dir}}, nil); err != nil {
		t.Fatalf("Fetch went to S3 for an artifact the folder holds: %v", err)
	}
	if _, err := s.Install(r, sel, dir); err != nil {
		t.Fatal(err)
	}
	// Elsewhere it is downloaded, and here that fails naming the object.
	err := s.Fetch(context.Background(), []Want{{Recipe: r, Selection: sel}}, nil)
	if err == nil || !strings.Contains(err.Error(), "s3://b/app.bin") || !strings.Contains(err.Error(), "Artifacts[0]") {
		t.Fatalf("Fetch without the folder = %v, want a failed download naming the artifact", err)
	}
}

func TestWithoutADownloaderAMissingS3ArtifactNamesTheTokenExchangeKeys(t *testing.T) {
	dir := artifactDir(t, "com.example.App", "1.0.0", nil)
	r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://b/app.bin", Digest: digest([]byte("x"))}}}
	s := New(t.TempDir())
	if err := s.Fetch(context.Background(), []Want{{Recipe: r, Selection: sel, ArtifactDir: dir}}, nil); err != nil {
		t.Fatalf("Fetch without a downloader: %v", err)
	}
	_, err := s.Install(r, sel, dir)
	if err == nil || !strings.Contains(err.Error(), "app.bin is missing") || !strings.Contains(err.Error(), "iotCredEndpoint and iotRoleAlias") {
		t.Fatalf("Install = %v, want the missing file and the token exchange keys named", err)
	}
}

func TestADownloadedArtifactWithoutADigestIsRefusedBeforeDownloading(t *testing.T) {
	r := &recipe.Recipe{File: "test.yaml", Name: "com.example.App", Version: "1.0.0"}
	sel := &recipe.Selection{Artifacts: []recipe.Artifact{{URI: "s3://b/app.bin"}}}
	err := Open(Options{Root: t.TempDir(), Downloader: nowhere(t)}).Fetch(context.Background(), []Want{{Recipe: r, Selection: sel}}, nil)
	if err == nil || !strings.Contains(err.Error(), "has no Digest") || !strings.Contains(err.Error(), "s3://b/app.bin") {
		t.Fatalf("Fetch = %v, want the missing Digest named", err)
	}
}
