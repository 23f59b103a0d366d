package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sward-iot/sward/test/harness"
)

// secretProbe reads secret %[1]s (granted by its ARN %[2]s) and %[3]s (not
// granted) by IPC GetSecretValue.
const secretProbe = `    checks:
      - {name: granted, call: GetSecretValue, body: {secretId: %[1]s}}
      - {name: not-granted, call: GetSecretValue, body: {secretId: %[3]s}}
      - {name: unknown, call: GetSecretValue, body: {secretId: test/nope}}
      - {name: no-id, call: GetSecretValue, body: {versionStage: AWSCURRENT}}
    accessControl:
      aws.greengrass.SecretManager:
        com.example.Secrets:secrets:1: {operations: ["aws.greengrass#GetSecretValue"], resources: ["%[2]s"]}`

func TestAComponentReadsASecretFetchedThroughTheTokenExchangeAndOfflineAfterAKill(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	thing := createThing(t, d, "secrets-thing")
	sm := secretsmanager.NewFromConfig(d.Info.AWSConfig())
	const value = `{"password":"pump-station-7"}`
	arns := map[string]string{}
	for name, v := range map[string]string{"test/db": value, "test/other": "not for the probe"} {
		out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(v)})
		if err != nil {
			t.Fatal(err)
		}
		arns[name] = aws.ToString(out.ARN)
	}

	config := writeTESConfig(t, d, thing, fmt.Sprintf(`  aws.greengrass.SecretManager:
    configuration:
      cloudSecrets:
        - arn: %s
        - arn: %s
`, arns["test/db"], arns["test/other"]))
	recipes := harness.WriteRecipes(t, map[string]string{"secrets.yaml": harness.ProbeRecipe(t, "com.example.Secrets",
		fmt.Sprintf(secretProbe, "test/db", arns["test/db"], arns["test/other"]))})
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", d.Info.Endpoints.AWS)
	root := t.TempDir()
	n := harness.StartAt(t, root, recipes, "", "--config", config, "--thing-name", thing.ThingName)

	check := func(phase string, got map[string]harness.ProbeResult) {
		t.Helper()
		checkMatrix(t, "com.example.Secrets "+phase, got, map[string]want{
			"granted": allowed, "not-granted": refused("UnauthorizedError"),
			"unknown": refused("ResourceNotFoundError"), "no-id": refused("InvalidArgumentsError"),
		})
		var reply struct {
			SecretID     string   `json:"secretId"`
			VersionStage []string `json:"versionStage"`
			SecretValue  struct {
				SecretString string `json:"secretString"`
			} `json:"secretValue"`
		}
		if err := json.Unmarshal(got["granted"].Reply, &reply); err != nil || reply.SecretID != arns["test/db"] ||
			reply.SecretValue.SecretString != value || len(reply.VersionStage) == 0 {
			t.Errorf("%s: granted reply = %s (%v), want secret %s with its value and stages", phase, got["granted"].Reply, err, arns["test/db"])
		}
	}
	check("online", n.ProbeResults("com.example.Secrets", 4))

	store := filepath.Join(root, "secrets", "secrets.enc")
	b, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("pump-station-7")) {
		t.Error("the secret's value is in clear in the store")
	}

	// kill -9, the cloud goes away, and the nucleus starts again on the
	// same root: the component reads its secret from the store.
	n.Signal(syscall.SIGKILL)
	if !n.WaitExit(10 * time.Second) {
		t.Fatal("the nucleus did not die")
	}
	d.Stop()
	if err := os.Remove(filepath.Join(root, "work", "com.example.Secrets", "results.jsonl")); err != nil {
		t.Fatal(err)
	}
	again := harness.StartAt(t, root, recipes, "", "--config", config, "--thing-name", thing.ThingName)
	check("offline after kill -9", again.ProbeResults("com.example.Secrets", 4))
}
