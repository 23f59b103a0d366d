package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/iotcore"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	"github.com/sward-iot/sward/shared/ipc"
)

// table is a Backend over a fixed set of components, recording what was asked.
type table struct {
	comps     map[string]Component
	restarted []string
	stopped   []string
	cloud     CloudStatus
}

func (b *table) Components() []Component {
	return []Component{b.comps["a.One"], b.comps["b.Two"]}
}

func (b *table) Component(name string) (Component, bool) {
	c, ok := b.comps[name]
	return c, ok
}

func (b *table) Restart(name string) error {
	if _, ok := b.comps[name]; !ok {
		return ErrUnknownComponent
	}
	b.restarted = append(b.restarted, name)
	return nil
}

func (b *table) Stop(name string) error {
	if name == "b.Two" {
		return errors.New("stop b.Two: shutdown step timed out")
	}
	b.stopped = append(b.stopped, name)
	return nil
}

func (b *table) CreateDeployment(doc *ddoc.Document, recipeDir, artifactDir string) (ddoc.Status, error) {
	return ddoc.Status{DeploymentID: "d-1", Group: doc.GroupName, State: ddoc.Queued}, nil
}

func (b *table) Deployments() ([]ddoc.Status, error) {
	return []ddoc.Status{{DeploymentID: "d-1", State: ddoc.Succeeded}}, nil
}

func (b *table) Deployment(id string) (ddoc.Status, error) {
	if id != "d-1" {
		return ddoc.Status{}, ErrUnknownDeployment
	}
	return ddoc.Status{DeploymentID: "d-1", State: ddoc.Succeeded}, nil
}

func (b *table) CloudStatus(context.Context) CloudStatus { return b.cloud }

func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newPair(t *testing.T) (*Client, *table) {
	t.Helper()
	nc := startNATS(t)
	b := &table{comps: map[string]Component{
		"a.One": {Name: "a.One", Version: "1.0.0", State: "RUNNING", PID: 42},
		"b.Two": {Name: "b.Two", Version: "2.1.0", State: "FINISHED"},
	}}
	srv := NewServer(nc, b, nil)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return NewClient(nc), b
}

func TestClientListsComponentsFromTheBackend(t *testing.T) {
	c, _ := newPair(t)
	got, err := c.Components(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a.One" || got[0].PID != 42 || got[1].State != "FINISHED" {
		t.Fatalf("Components() = %+v", got)
	}
}

func TestOperationsOnAnUnknownComponentAreResourceNotFound(t *testing.T) {
	c, _ := newPair(t)
	for name, op := range map[string]func() error{
		"details": func() error { _, err := c.Component(context.Background(), "x.Missing"); return err },
		"restart": func() error { _, err := c.Restart(context.Background(), "x.Missing"); return err },
	} {
		err := op()
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeResourceNotFound || !strings.Contains(e.Message, "x.Missing") {
			t.Errorf("%s of an unknown component: %v, want %s naming it", name, err, CodeResourceNotFound)
		}
	}
}

// TestRefusalsAreIPCErrors: the control API answers with the IPC error of
// shared/ipc and its codes, so a caller handles control and IPC refusals
// with one type and one set of names.
func TestRefusalsAreIPCErrors(t *testing.T) {
	c, _ := newPair(t)
	_, err := c.Component(context.Background(), "x.Missing")
	var e *ipc.Error
	if !errors.As(err, &e) || e.Code != ipc.CodeResourceNotFound {
		t.Fatalf("details of an unknown component: %#v, want an *ipc.Error with code %s", err, ipc.CodeResourceNotFound)
	}
}

func TestRestartReachesTheBackendAndReturnsTheComponent(t *testing.T) {
	c, b := newPair(t)
	got, err := c.Restart(context.Background(), "a.One")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "a.One" || len(b.restarted) != 1 || b.restarted[0] != "a.One" {
		t.Fatalf("restart: got %+v, backend saw %v", got, b.restarted)
	}
}

func TestBackendFailuresAreServiceErrorsWithTheirMessage(t *testing.T) {
	c, _ := newPair(t)
	_, err := c.Stop(context.Background(), "b.Two")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeService || !strings.Contains(e.Message, "shutdown step timed out") {
		t.Fatalf("stop failure: %v", err)
	}
}

func TestRequestsWithoutANameAreInvalidArguments(t *testing.T) {
	c, _ := newPair(t)
	for _, body := range []string{`{}`, `not json`} {
		msg, err := c.nc.Request(SubjectComponentDetails, []byte(body), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(msg.Data), CodeInvalidArguments) {
			t.Errorf("request %q answered %s, want %s", body, msg.Data, CodeInvalidArguments)
		}
	}
}

func TestCredentialIsWrittenOwnerOnlyAndReadBack(t *testing.T) {
	root := t.TempDir()
	want := Credential{NATSURL: "nats://127.0.0.1:4222", User: "admin", Password: "s3cret", PID: 7}
	if err := WriteCredential(root, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(CredentialPath(root))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credential mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadCredential(root)
	if err != nil || got != want {
		t.Fatalf("ReadCredential = %+v, %v", got, err)
	}
	if err := RemoveCredential(root); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredential(root); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after removal: %v, want ErrNotRunning", err)
	}
}

func TestDialWithoutANucleusNamesTheRoot(t *testing.T) {
	root := t.TempDir()
	_, err := Dial(root)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), root) {
		t.Fatalf("Dial(empty root) = %v", err)
	}
	// A stale credential whose nucleus is gone is also "not running".
	if err := WriteCredential(root, Credential{NATSURL: "nats://127.0.0.1:1", User: "admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(root); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial(stale credential) = %v, want ErrNotRunning", err)
	}
	if err := os.WriteFile(filepath.Join(root, CredentialFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(root); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("Dial(corrupt credential) = %v", err)
	}
}

func TestCreateDeploymentDecodesTheDocumentStrictly(t *testing.T) {
	c, _ := newPair(t)
	doc := ddoc.New(ddoc.LocalGroup)
	doc.Components["com.example.A"] = ddoc.Component{Version: "1.0.0"}
	st, err := c.CreateDeployment(context.Background(), doc, "/r", "/a")
	if err != nil || st.DeploymentID != "d-1" || st.State != ddoc.Queued {
		t.Fatalf("CreateDeployment = %+v, %v", st, err)
	}
	msg, err := c.nc.Request(SubjectDeploymentCreate, []byte(`{"document":{"groupName":"LOCAL","components":{},"surprise":1}}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), CodeInvalidArguments) || !strings.Contains(string(msg.Data), "surprise") {
		t.Fatalf("an unknown document field answered %s", msg.Data)
	}
}

func TestDeploymentStatusOfAnUnknownIDIsResourceNotFound(t *testing.T) {
	c, _ := newPair(t)
	if st, err := c.WaitDeployment(context.Background(), "d-1"); err != nil || st.State != ddoc.Succeeded {
		t.Fatalf("WaitDeployment = %+v, %v", st, err)
	}
	_, err := c.Deployment(context.Background(), "nope")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeResourceNotFound {
		t.Fatalf("status of an unknown deployment: %v", err)
	}
}

func TestServerSubscribesOnlyOnStart(t *testing.T) {
	nc := startNATS(t)
	srv := NewServer(nc, &table{}, nil)
	t.Cleanup(srv.Close)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request(SubjectComponentList, nil, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request before Start: err = %v, want no responders (the constructor subscribed)", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request(SubjectComponentList, nil, time.Second); err != nil {
		t.Fatalf("request after Start: %v", err)
	}
}

func TestCloudStatusCarriesTheLinksStateOrNotConfigured(t *testing.T) {
	c, b := newPair(t)
	got, err := c.CloudStatus(context.Background())
	if err != nil || got.Configured {
		t.Fatalf("CloudStatus without a link = %+v, %v; want not configured", got, err)
	}
	since := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	b.cloud = CloudStatus{Configured: true, State: iotcore.State{Connected: true, ConnectedSince: since,
		Endpoint: "example-ats.iot.eu-north-1.amazonaws.com:8883", SpoolMessages: 3, SpoolBytes: 600, LastError: "connection lost"}}
	got, err = c.CloudStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Configured || !got.Connected || !got.ConnectedSince.Equal(since) || got.Endpoint != b.cloud.Endpoint ||
		got.SpoolMessages != 3 || got.SpoolBytes != 600 || got.LastError != "connection lost" {
		t.Errorf("CloudStatus = %+v, want %+v", got, b.cloud)
	}
}
