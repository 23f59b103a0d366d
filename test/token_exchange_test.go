package test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/test/harness"
)

// listRecipe is component name, with deps as its ComponentDependencies:
// it writes the credential variables it got to env.txt and the output of
// list (a command listing bucket %[1]s at endpoint %[2]s with an unmodified
// AWS SDK) to ls.txt. Nothing tells the SDK about credentials but the
// environment the nucleus gives (an empty key and /dev/null files keep the
// test machine's own out).
func listRecipe(name, deps, list string, privileged bool) string {
	return `
RecipeFormatVersion: "2020-01-25"
ComponentName: ` + name + `
ComponentVersion: "1.0.0"
` + deps + `
Manifests:
  - Lifecycle:
      Setenv:
        AWS_ACCESS_KEY_ID: ""
        AWS_SECRET_ACCESS_KEY: ""
        AWS_SESSION_TOKEN: ""
        AWS_CONFIG_FILE: /dev/null
        AWS_SHARED_CREDENTIALS_FILE: /dev/null
        AWS_EC2_METADATA_DISABLED: "true"
      Run:
        RequiresPrivilege: ` + fmt.Sprint(privileged) + `
        Script: |
          echo "uri=${AWS_CONTAINER_CREDENTIALS_FULL_URI:-none} token=${AWS_CONTAINER_AUTHORIZATION_TOKEN:-none}" > {work:path}/env.txt
          ` + list + ` > {work:path}/ls.tmp 2>&1; echo "exit=$?" >> {work:path}/ls.tmp
          mv {work:path}/ls.tmp {work:path}/ls.txt
          exec sleep 300
`
}

const (
	tesDependency = `ComponentDependencies:
  aws.greengrass.TokenExchangeService:
    VersionRequirement: ^2.0.0
    DependencyType: HARD`
	// The AWS CLI v1 (botocore); privileged, as the test machine has it
	// under root's home.
	awsCLIList = "aws s3 ls s3://%[1]s --endpoint-url %[2]s"
	// boto3; privileged for the same reason.
	boto3List = `python3 -c 'import boto3; print("\n".join(o["Key"] for o in boto3.client("s3", endpoint_url="%[2]s").list_objects_v2(Bucket="%[1]s").get("Contents", [])))'`
)

var (
	listerRecipe   = listRecipe("test.S3Lister", tesDependency, awsCLIList, true)
	outsiderRecipe = listRecipe("test.Outsider", "", awsCLIList, true)
)

func TestComponentsThatDependOnTheTokenExchangeServiceListABucketWithUnmodifiedSDKs(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	thing := createThing(t, d, "tes-thing")
	const bucket = "tes-bucket"
	store := s3.NewFromConfig(d.Info.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := store.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("readings-42.json"),
		Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	recipes := filepath.Join(dir, "recipes")
	if err := os.MkdirAll(recipes, 0o755); err != nil {
		t.Fatal(err)
	}
	// aws-sdk-go-v2's default chain, as the component's user.
	goLister := listRecipe("test.GoS3Lister", tesDependency, harness.Tool(t, "./test/s3list")+" -bucket %[1]s -endpoint %[2]s", false)
	pyLister := listRecipe("test.Boto3Lister", tesDependency, boto3List, true)
	for name, text := range map[string]string{"lister.yaml": listerRecipe, "golister.yaml": goLister, "pylister.yaml": pyLister,
		"outsider.yaml": outsiderRecipe} {
		if err := os.WriteFile(filepath.Join(recipes, name), fmt.Appendf(nil, text, bucket, d.Info.Endpoints.AWS), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := writeTESConfig(t, d, thing, "")
	// The nucleus's stream exporters reach moto here, with no credentials
	// in the nucleus's environment: only the token exchange service's.
	t.Setenv("AWS_ENDPOINT_URL", d.Info.Endpoints.AWS)
	n := harness.Start(t, recipes, "", "--config", config, "--thing-name", thing.ThingName)
	read := func(component, file string) string {
		var text string
		harness.Eventually(t, 60*time.Second, component+" writes "+file, func() error {
			data, err := os.ReadFile(filepath.Join(n.Root, "work", component, file))
			text = string(data)
			return err
		})
		return text
	}

	for _, c := range []string{"test.S3Lister", "test.GoS3Lister", "test.Boto3Lister"} {
		if ls := read(c, "ls.txt"); !strings.Contains(ls, "readings-42.json") || !strings.Contains(ls, "exit=0") {
			t.Errorf("%s, depending on the token exchange service, could not list the bucket:\n%s", c, ls)
		}
	}
	if a, b := read("test.S3Lister", "env.txt"), read("test.GoS3Lister", "env.txt"); a == b {
		t.Errorf("two components got the same variables: %s", a)
	}
	if env := read("test.Outsider", "env.txt"); strings.TrimSpace(env) != "uri=none token=none" {
		t.Errorf("a component without the dependency got credential variables: %s", env)
	}
	if ls := read("test.Outsider", "ls.txt"); strings.Contains(ls, "readings-42.json") || !strings.Contains(ls, "Unable to locate credentials") {
		t.Errorf("a component without the dependency listed the bucket:\n%s", ls)
	}

	// The stream exporters use the same credentials.
	nc := n.AdminConn()
	if _, err := streamCall(nc, "CreateMessageStream", map[string]any{"definition": map[string]any{
		"name": "Uploads", "strategyOnFull": "RejectNewData",
		"exportDefinition": map[string]any{"s3": []any{map[string]any{
			"identifier": "toS3", "bucket": bucket, "batchSize": 1, "batchIntervalMillis": 100}}},
	}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := streamCall(nc, "AppendMessage", map[string]any{"streamName": "Uploads", "payload": []byte("reading")}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 60*time.Second, "the S3 export uploads with the token exchange credentials", func() error {
		list, err := store.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			return err
		}
		for _, o := range list.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), ".jsonl") {
				return nil
			}
		}
		return fmt.Errorf("%d objects, none exported", len(list.Contents))
	})

	// The endpoint is loopback, and without a token it issued it gives no
	// credentials, whoever asks.
	var uri, token string
	if _, err := fmt.Sscanf(read("test.S3Lister", "env.txt"), "uri=%s token=%s", &uri, &token); err != nil ||
		!strings.HasPrefix(uri, "http://127.0.0.1:") || len(token) != 64 {
		t.Fatalf("the lister's variables: uri %q token %q (%v): want a loopback URI and a 32-byte token", uri, token, err)
	}
	ask := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, uri, nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, bad := range []string{"", "guessed-token"} {
		if status := ask(bad); status != http.StatusForbidden {
			t.Errorf("token %q answered %d, want 403", bad, status)
		}
	}

	// Removed from the device, the lister's token is revoked.
	if status := ask(token); status != http.StatusOK {
		t.Fatalf("the lister's token answered %d, want 200", status)
	}
	if err := os.Remove(filepath.Join(recipes, "lister.yaml")); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 60*time.Second, "the removed component's token is refused", func() error {
		if status := ask(token); status != http.StatusForbidden {
			return fmt.Errorf("answered %d, want 403", status)
		}
		return nil
	})
	if status := ask(strings.Fields(read("test.GoS3Lister", "env.txt"))[1][len("token="):]); status != http.StatusOK {
		t.Errorf("the component that stays lost its credentials: %d", status)
	}
}

func TestADependencyOnTheTokenExchangeServiceWithoutACloudNamesTheMissingConfiguration(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lister.yaml"), fmt.Appendf(nil, listerRecipe, "b", "http://127.0.0.1:1"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := harness.Start(t, dir, "")
	harness.Eventually(t, 30*time.Second, "the deployment fails naming the missing configuration", func() error {
		out, err := n.CLI("deployment", "list")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "FAILED") || !strings.Contains(out, "aws.greengrass.TokenExchangeService is the nucleus's token exchange service") ||
			!strings.Contains(out, "iotCredEndpoint") {
			return fmt.Errorf("deployment list says:\n%s", out)
		}
		return nil
	})
}

// writeTESConfig writes a device configuration file for thing with the
// link and the token exchange service pointed at devcloud d, then extra
// (YAML indented two spaces, more entries under services).
func writeTESConfig(t *testing.T, d *harness.Devcloud, thing thingFiles, extra string) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `
system:
  thingName: %s
  certificateFilePath: %s
  privateKeyPath: %s
  rootCaPath: %s
services:
  aws.greengrass.Nucleus:
    configuration:
      awsRegion: %s
      iotDataEndpoint: %s
      iotCredEndpoint: %s
      iotRoleAlias: %s
%s`, thing.ThingName, thing.CertificateFilePath, thing.PrivateKeyPath, thing.RootCaPath, d.Info.Region,
		d.Info.Endpoints.IoTData, strings.TrimPrefix(d.Info.Endpoints.Credentials, "https://"), d.Info.RoleAliases[0], extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
