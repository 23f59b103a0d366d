package broker

import (
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestReadyReportsBoundAddresses(t *testing.T) {
	b := runBroker(t, testOptions(t))

	if u := b.NATSURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":-1") || strings.HasSuffix(u, ":0") {
		t.Fatalf("NATSURL = %q, want nats://127.0.0.1:<bound port>", u)
	}
	if a := b.MQTTAddr(); !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":-1") || strings.HasSuffix(a, ":0") {
		t.Fatalf("MQTTAddr = %q, want 127.0.0.1:<bound port>", a)
	}
	for _, addr := range []string{strings.TrimPrefix(b.NATSURL(), "nats://"), b.MQTTAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.Close()
	}
}

func TestDisabledMQTTHasNoAddress(t *testing.T) {
	o := testOptions(t)
	o.MQTTListen = ""
	b := runBroker(t, o)
	if a := b.MQTTAddr(); a != "" {
		t.Fatalf("MQTTAddr = %q with MQTT disabled, want empty", a)
	}
}

func TestNothingOptionalIsStarted(t *testing.T) {
	b := runBroker(t, testOptions(t))
	s := b.Server()
	if s.MonitorAddr() != nil {
		t.Errorf("monitoring listens on %v without MonitorListen", s.MonitorAddr())
	}
	if s.ClusterAddr() != nil {
		t.Errorf("cluster listens on %v", s.ClusterAddr())
	}
	if n := s.NumLeafNodes(); n != 0 {
		t.Errorf("%d leaf nodes", n)
	}
}

func TestMonitorListensWhenAsked(t *testing.T) {
	o := testOptions(t)
	o.MonitorListen = "127.0.0.1:0"
	b := runBroker(t, o)
	if a := b.Server().MonitorAddr(); a == nil || !a.IP.IsLoopback() || a.Port == 0 {
		t.Fatalf("MonitorAddr = %v, want a loopback address with a bound port", a)
	}
}

func TestJetStreamStoresUnderStoreDir(t *testing.T) {
	o := testOptions(t)
	b := runBroker(t, o)
	js, err := jetstream.New(connect(t, b, "nucleus"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "probe.x", []byte("hello")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if cfg := b.Server().JetStreamConfig(); cfg == nil || cfg.MaxMemory != DefaultMaxMemory || cfg.MaxStore != DefaultMaxStore {
		t.Errorf("JetStream config = %+v, want MaxMemory %d and MaxStore %d", cfg, DefaultMaxMemory, DefaultMaxStore)
	}

	var found bool
	err = filepath.WalkDir(o.StoreDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "PROBE" {
			found = true
		}
		return err
	})
	if err != nil || !found {
		t.Fatalf("stream PROBE not found under StoreDir %s (walk error %v)", o.StoreDir, err)
	}
}

func TestShutdownLeavesNothingListening(t *testing.T) {
	o := testOptions(t)
	o.MonitorListen = "127.0.0.1:-1"
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(waitTimeout); err != nil {
		t.Fatal(err)
	}
	addrs := []string{strings.TrimPrefix(b.NATSURL(), "nats://"), b.MQTTAddr(), b.Server().MonitorAddr().String()}
	nc := connect(t, b, "nucleus")

	b.Shutdown()
	b.WaitForShutdown()

	for _, a := range addrs {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Shutdown", a)
		}
	}
	testutil.Eventually(t, "in-process connection closed", func() error {
		if nc.IsConnected() {
			return errors.New("still connected")
		}
		return nil
	})
}

func TestStartNamesTheListenerWhosePortIsTaken(t *testing.T) {
	first := runBroker(t, testOptions(t))
	for _, tc := range []struct {
		listener string
		taken    func(*Options, string)
		addr     string
	}{
		{"nats", func(o *Options, a string) { o.NATSListen = a }, strings.TrimPrefix(first.NATSURL(), "nats://")},
		{"mqtt", func(o *Options, a string) { o.MQTTListen = a }, first.MQTTAddr()},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			o := testOptions(t)
			tc.taken(&o, tc.addr)
			b, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Shutdown(); b.WaitForShutdown() })
			err = b.Start()
			var le *ListenError
			if !errors.As(err, &le) || le.Listener != tc.listener || le.Addr != tc.addr || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("Start = %v, want a ListenError for the %s listener at %s", err, tc.listener, tc.addr)
			}
		})
	}
}

func TestStartTwiceIsAnError(t *testing.T) {
	b := runBroker(t, testOptions(t))
	if err := b.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
}

func TestConnectIsInProcessAndAuthenticated(t *testing.T) {
	b := runBroker(t, testOptions(t))
	connect(t, b, "nucleus")
	conns, err := b.Server().Connz(&server.ConnzOptions{Username: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(conns.Conns) != 1 {
		t.Fatalf("%d connections, want the one nucleus connection", len(conns.Conns))
	}
	if c := conns.Conns[0]; c.AuthorizedUser != "nucleus" || c.Kind != "Client" || c.Type != "nats" || c.Port != 0 {
		t.Fatalf("connection = user %q kind %q type %q %s:%d, want an in-process nats client as nucleus", c.AuthorizedUser, c.Kind, c.Type, c.IP, c.Port)
	}

	_, err = b.Connect("ghost")
	if !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("Connect(ghost) = %v, want ErrUnknownUser", err)
	}
}

func TestPermissionsApplyToNATSClients(t *testing.T) {
	b := runBroker(t, testOptions(t))
	errs := make(chan error, 4)
	nc, err := b.Connect("sensor", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := nc.Publish("secrets.x", nil); err != nil {
		t.Fatal(err)
	}
	err = testutil.Receive(t, errs, "permission violation")
	if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), "secrets.x") {
		t.Fatalf("error = %v, want a publish permission violation on secrets.x", err)
	}
}
