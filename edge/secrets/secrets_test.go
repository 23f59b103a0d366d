package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/internal/testutil"
	ddoc "github.com/sward-iot/sward/shared/deployment"

	"github.com/aws/aws-sdk-go-v2/aws"

	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestFetchesTheConfiguredSecretsAndServesThemByARNOrName(t *testing.T) {
	m := startMoto(t)
	strARN, strName := createSecret(t, m, aws.String(`{"password":"hunter2"}`), nil)
	binARN, _ := createSecret(t, m, nil, []byte{0, 1, 2, 0xff})
	s := start(t, options(t, m, t.TempDir(), deviceKeyFile(t), strARN, binARN))

	for _, id := range []string{strARN, strName} {
		got, err := call(s, wire.GetSecretValueRequest{SecretID: id}, all, []string{"*"})
		if err != nil {
			t.Fatalf("GetSecretValue %s: %v", id, err)
		}
		if got.SecretID != strARN || aws.ToString(got.SecretValue.SecretString) != `{"password":"hunter2"}` || got.SecretValue.SecretBinary != nil ||
			got.VersionID == "" || len(got.VersionStage) == 0 || got.VersionStage[0] != StageCurrent {
			t.Errorf("GetSecretValue %s = %+v, want the string secret %s at a version labelled AWSCURRENT", id, got, strARN)
		}
	}
	got, err := call(s, wire.GetSecretValueRequest{SecretID: binARN, VersionStage: StageCurrent}, all, []string{binARN})
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretValue.SecretString != nil || !bytes.Equal(got.SecretValue.SecretBinary, []byte{0, 1, 2, 0xff}) {
		t.Errorf("binary secret = %+v, want secretBinary 00 01 02 ff and no secretString", got.SecretValue)
	}
	again, err := call(s, wire.GetSecretValueRequest{SecretID: binARN, VersionID: got.VersionID}, all, []string{binARN})
	if err != nil || again.VersionID != got.VersionID {
		t.Errorf("by versionId %s: %+v, %v; want that version", got.VersionID, again, err)
	}
}

func TestRefreshFetchesTheNewCurrentVersion(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("v1"), nil)
	s := start(t, options(t, m, t.TempDir(), deviceKeyFile(t), arn))
	putSecret(t, m, arn, "v2")
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(arn, "", "")
	if err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("after Refresh: %+v, %v; want v2", got, err)
	}
}

func TestTheStoreIsEncryptedWithTheDeviceKeyAndServesOfflineAfterARestart(t *testing.T) {
	m := startMoto(t)
	const plaintext = "correct horse battery staple"
	arn, name := createSecret(t, m, aws.String(plaintext), nil)
	dir, key := filepath.Join(t.TempDir(), "secrets"), deviceKeyFile(t)
	first := start(t, options(t, m, dir, key, arn))
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(dir, storeFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{plaintext, name, arn} {
		if bytes.Contains(b, []byte(clear)) {
			t.Errorf("the store file holds %q in clear", clear)
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, file: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) > 0 {
		t.Errorf("temporary files left: %q", tmps)
	}

	// The cloud is unreachable: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	o := options(t, m, dir, key, arn)
	o.Endpoint = dead
	offline := start(t, o)
	got, err := call(offline, wire.GetSecretValueRequest{SecretID: name}, all, []string{arn})
	if err != nil || aws.ToString(got.SecretValue.SecretString) != plaintext {
		t.Fatalf("offline after restart: %+v, %v; want the stored secret", got, err)
	}
	if err := offline.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), arn) {
		t.Errorf("Refresh offline = %v, want an error naming %s", err, arn)
	}
	if _, err := offline.Get(arn, "", ""); err != nil {
		t.Errorf("a failed Refresh dropped the stored secret: %v", err)
	}

	// Another device's key cannot read the store: nothing is served.
	o.KeyFile = deviceKeyFile(t)
	other := start(t, o)
	if _, err := call(other, wire.GetSecretValueRequest{SecretID: arn}, all, []string{"*"}); errCode(err) != wire.CodeResourceNotFound {
		t.Errorf("with another device key: %v, want ResourceNotFoundError", err)
	}
}

func TestASecretNoLongerConfiguredIsNotServed(t *testing.T) {
	m := startMoto(t)
	a, _ := createSecret(t, m, aws.String("a"), nil)
	b, _ := createSecret(t, m, aws.String("b"), nil)
	dir, key := t.TempDir(), deviceKeyFile(t)
	first := start(t, options(t, m, dir, key, a, b))
	_ = first.Shutdown(context.Background())
	o := options(t, m, dir, key, a)
	o.Credentials = nil // served from the store only
	s := start(t, o)
	if _, err := s.Get(a, "", ""); err != nil {
		t.Errorf("configured secret: %v", err)
	}
	if _, err := s.Get(b, "", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("secret removed from cloudSecrets: %v, want ErrNotFound", err)
	}
}

func TestGetSecretValueIsAuthorizedByTheSecretManagerAccessControl(t *testing.T) {
	m := startMoto(t)
	arn, name := createSecret(t, m, aws.String("s"), nil)
	other, _ := createSecret(t, m, aws.String("o"), nil)
	s := start(t, options(t, m, t.TempDir(), deviceKeyFile(t), arn, other))
	for _, tt := range []struct {
		name       string
		operations []string
		resources  []string
		want       string
	}{
		{"the secret's ARN", all, []string{arn}, ""},
		{"any secret", all, []string{"*"}, ""},
		{"all operations", []string{"*"}, []string{arn}, ""},
		{"another secret only", all, []string{other}, wire.CodeUnauthorized},
		{"the name is not a resource", all, []string{name}, wire.CodeUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(s, wire.GetSecretValueRequest{SecretID: name}, tt.operations, tt.resources)
			if errCode(err) != tt.want {
				t.Errorf("GetSecretValue %s with a policy of %q on %q: %v, want %q", name, tt.operations, tt.resources, err, tt.want)
			}
		})
	}
}

func TestGetSecretValueRefusesBadRequests(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("s"), nil)
	s := start(t, options(t, m, t.TempDir(), deviceKeyFile(t), arn))
	for _, tt := range []struct {
		name string
		s    *Service
		req  any
		want string
		says string
	}{
		{"no secretId", s, wire.GetSecretValueRequest{}, wire.CodeInvalidArguments, "secretId"},
		{"unknown field", s, `{"secretId":"x","secret":"y"}`, wire.CodeInvalidArguments, "secret"},
		{"wrong type", s, `{"secretId":7}`, wire.CodeInvalidArguments, "secretId"},
		{"unknown secret", s, wire.GetSecretValueRequest{SecretID: "nope"}, wire.CodeResourceNotFound, "cloudSecrets"},
		{"unknown version", s, wire.GetSecretValueRequest{SecretID: arn, VersionID: "v-none"}, wire.CodeResourceNotFound, "AWSCURRENT"},
		{"a stage not kept", s, wire.GetSecretValueRequest{SecretID: arn, VersionStage: "AWSPREVIOUS"}, wire.CodeResourceNotFound, "AWSPREVIOUS"},
		{"no secret manager", nil, wire.GetSecretValueRequest{SecretID: arn}, wire.CodeResourceNotFound, "services.aws.greengrass.SecretManager.configuration.cloudSecrets"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(tt.s, tt.req, all, []string{"*"})
			if errCode(err) != tt.want || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("GetSecretValue %v: %v, want %s saying %q", tt.req, err, tt.want, tt.says)
			}
		})
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		says string
	}{
		{"no folder", Options{}, "Dir"},
		{"empty ARN", Options{Dir: "d", KeyFile: "k", CloudSecrets: []string{""}}, "cloudSecrets[0].arn"},
		{"no key", Options{Dir: "d", CloudSecrets: []string{"arn:x"}}, "privateKeyPath"},
		{"no region", Options{Dir: "d", Credentials: static{}}, "awsRegion"},
	} {
		if _, err := New(tt.o); err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.says)
		}
	}
}

func TestStartNamesAnUnreadableDeviceKey(t *testing.T) {
	s, err := New(Options{Dir: t.TempDir(), KeyFile: filepath.Join(t.TempDir(), "missing.key"), CloudSecrets: []string{"arn:x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "system.privateKeyPath") {
		t.Errorf("Start = %v, want an error naming system.privateKeyPath", err)
	}
}

// gated credentials are given out only once open is closed.
type gated struct {
	static
	open chan struct{}
}

func (g gated) Retrieve(ctx context.Context) (aws.Credentials, error) {
	select {
	case <-g.open:
		return g.static.Retrieve(ctx)
	case <-ctx.Done():
		return aws.Credentials{}, ctx.Err()
	}
}

func TestGetSecretValueRightAfterAFirstStartWaitsForTheFetch(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("early"), nil)
	o := options(t, m, t.TempDir(), deviceKeyFile(t), arn)
	open := make(chan struct{})
	o.Credentials = gated{o.Credentials.(static), open}
	s := startNoWait(t, o)

	t.Run("the fetch ends within the wait", func(t *testing.T) {
		time.AfterFunc(200*time.Millisecond, func() { close(open) })
		got, err := call(s, wire.GetSecretValueRequest{SecretID: arn}, all, []string{arn})
		if err != nil || aws.ToString(got.SecretValue.SecretString) != "early" {
			t.Fatalf("GetSecretValue while the first fetch runs: %+v, %v; want the secret once fetched", got, err)
		}
	})
}

func TestGetSecretValueWhileAFirstFetchHangsSaysToRetry(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("late"), nil)
	o := options(t, m, t.TempDir(), deviceKeyFile(t), arn)
	o.Credentials = gated{o.Credentials.(static), make(chan struct{})} // never open
	s := startNoWait(t, o)
	defer func(d time.Duration) { answerWithin = d }(answerWithin)
	answerWithin = 100 * time.Millisecond
	_, err := call(s, wire.GetSecretValueRequest{SecretID: arn}, all, []string{arn})
	if errCode(err) != wire.CodeResourceNotFound || !strings.Contains(err.Error(), "retry") {
		t.Errorf("GetSecretValue while the first fetch hangs: %v, want ResourceNotFoundError saying to retry", err)
	}
}

func TestGetSecretValueWithRefreshServesTheCurrentVersionFromTheCloud(t *testing.T) {
	m := startMoto(t)
	arn, name := createSecret(t, m, aws.String("v1"), nil)
	other, _ := createSecret(t, m, aws.String("o"), nil)
	s := start(t, options(t, m, t.TempDir(), deviceKeyFile(t), arn, other))
	putSecret(t, m, arn, "v2")

	if got, err := call(s, wire.GetSecretValueRequest{SecretID: name}, all, []string{arn}); err != nil || aws.ToString(got.SecretValue.SecretString) != "v1" {
		t.Fatalf("without refresh: %+v, %v; want the stored v1", got.SecretValue, err)
	}
	// A caller not allowed to read the secret makes the device fetch nothing.
	if _, err := call(s, wire.GetSecretValueRequest{SecretID: name, Refresh: true}, all, []string{other}); errCode(err) != wire.CodeUnauthorized {
		t.Fatalf("refresh by a caller allowed only another secret: %v, want %s", err, wire.CodeUnauthorized)
	}
	if got, _ := s.Get(arn, "", ""); aws.ToString(got.SecretString) != "v1" {
		t.Fatalf("an unauthorized refresh fetched the secret: stored %q, want v1", aws.ToString(got.SecretString))
	}
	got, err := call(s, wire.GetSecretValueRequest{SecretID: name, Refresh: true}, all, []string{arn})
	if err != nil || aws.ToString(got.SecretValue.SecretString) != "v2" {
		t.Fatalf("with refresh: %+v, %v; want v2 from Secrets Manager", got.SecretValue, err)
	}
	if got, err := call(s, wire.GetSecretValueRequest{SecretID: arn}, all, []string{arn}); err != nil || aws.ToString(got.SecretValue.SecretString) != "v2" {
		t.Errorf("after the refresh, without it: %+v, %v; want v2 stored", got.SecretValue, err)
	}
}

func TestGetSecretValueWithRefreshServesTheStoredVersionWhenTheCloudIsUnreachable(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("kept"), nil)
	dir, key := t.TempDir(), deviceKeyFile(t)
	first := start(t, options(t, m, dir, key, arn))
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := options(t, m, dir, key, arn)
	o.Endpoint, o.Timeout = "http://127.0.0.1:1", time.Second // nothing listens there
	offline := start(t, o)
	got, err := call(offline, wire.GetSecretValueRequest{SecretID: arn, Refresh: true}, all, []string{arn})
	if err != nil || aws.ToString(got.SecretValue.SecretString) != "kept" {
		t.Errorf("refresh offline: %+v, %v; want the stored version", got.SecretValue, err)
	}
}

func TestTheSecretsAreFetchedAgainWhenADeploymentEnds(t *testing.T) {
	m := startMoto(t)
	arn, _ := createSecret(t, m, aws.String("v1"), nil)
	nc := startNATS(t)
	o := options(t, m, t.TempDir(), deviceKeyFile(t), arn)
	o.Conn = nc
	s := start(t, o)
	putSecret(t, m, arn, "v2")

	record := func(id string, state ddoc.State) {
		t.Helper()
		data, _ := json.Marshal(map[string]any{"status": ddoc.Status{DeploymentID: id, State: state}})
		if err := nc.Publish("$KV."+deployment.DefaultBucket+".deployment."+id, data); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	record("d-1", ddoc.InProgress)
	time.Sleep(300 * time.Millisecond)
	if got, _ := s.Get(arn, "", ""); aws.ToString(got.SecretString) != "v1" {
		t.Fatalf("a deployment still in progress fetched the secrets: %q, want v1", aws.ToString(got.SecretString))
	}
	record("d-1", ddoc.Succeeded)
	testutil.Eventually(t, "the secret fetched again after the deployment ended", func() error {
		if got, _ := s.Get(arn, "", ""); aws.ToString(got.SecretString) != "v2" {
			return fmt.Errorf("stored %q after the deployment ended, want v2", aws.ToString(got.SecretString))
		}
		return nil
	})
}
