package secrets

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/optest"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
)

var moto struct {
	once sync.Once
	m    *testutil.Moto
	err  error
}

// startMoto starts moto_server once per test binary; TestMain stops it.
func startMoto(t testing.TB) *testutil.Moto {
	t.Helper()
	moto.once.Do(func() { moto.m, moto.err = testutil.StartMoto() })
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.m != nil {
		moto.m.Stop()
	}
	os.Exit(code)
}

// static is a Credentials of fixed keys (the nucleus passes its token
// exchange service).
type static struct{ aws.Credentials }

func (s static) Retrieve(context.Context) (aws.Credentials, error) { return s.Credentials, nil }

var seq atomic.Int64

// createSecret makes a secret in moto and returns its ARN. Exactly one of
// str and bin is used.
func createSecret(t *testing.T, m *testutil.Moto, str *string, bin []byte) (arn, name string) {
	t.Helper()
	name = fmt.Sprintf("test/secret-%d", seq.Add(1))
	out, err := secretsmanager.NewFromConfig(m.Config()).CreateSecret(context.Background(),
		&secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: str, SecretBinary: bin})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN), name
}

func putSecret(t *testing.T, m *testutil.Moto, arn, value string) {
	t.Helper()
	if _, err := secretsmanager.NewFromConfig(m.Config()).PutSecretValue(context.Background(),
		&secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(value)}); err != nil {
		t.Fatal(err)
	}
}

// deviceKeyFile writes a fresh device private key (PKCS#8 PEM).
func deviceKeyFile(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "private.pem.key")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// options for a manager of arns fetching from m, its store in dir.
func options(t *testing.T, m *testutil.Moto, dir, keyFile string, arns ...string) Options {
	return Options{CloudSecrets: arns, Dir: dir, KeyFile: keyFile, Region: m.Region, Endpoint: m.URL,
		Credentials: static{aws.Credentials{AccessKeyID: testutil.MotoCredentials, SecretAccessKey: testutil.MotoCredentials}},
		Logger:      testlog.New(t)}
}

// start starts a manager and waits for its first fetch to end.
func start(t *testing.T, o Options) *Service {
	t.Helper()
	s := startNoWait(t, o)
	<-s.done
	return s
}

// startNoWait starts a manager; it is shut down at cleanup.
func startNoWait(t *testing.T, o Options) *Service {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

const caller = "com.example.Probe"

// call runs GetSecretValue of s for caller, whose accessControl has one
// aws.greengrass.SecretManager policy granting operations on resources.
func call(s *Service, req any, operations, resources []string) (wire.GetSecretValueResponse, error) {
	out, err := optest.Call(s, caller, authz.ServiceSecretManager, wire.OpGetSecretValue, req, operations, resources)
	if err != nil {
		return wire.GetSecretValueResponse{}, err
	}
	return out.(wire.GetSecretValueResponse), nil
}

var all = []string{"aws.greengrass#GetSecretValue"}

func errCode(err error) string {
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not a wire error: " + err.Error()
}

// startNATS runs a plain NATS server, standing in for the nucleus's bus.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
