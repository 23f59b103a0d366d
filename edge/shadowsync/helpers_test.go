package shadowsync

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

const (
	thing   = "dev1"
	nucleus = "nucleus"
	secret  = "nucleus-secret"
)

// rig is a device and a cloud with real parts only, the link between
// them excepted, which the test can cut:
//   - the cloud: a Sward broker with an MQTT listener behind mutual TLS,
//     where the client certificate names the thing (as IoT Core does), and
//     edge/shadow serving $aws/things/… on it with AWS's semantics (the
//     same document model, shared/shadow, as devcloud's shadow service);
//   - the device: its own broker with edge/shadow (the local shadows), a
//     real edge/iotcore link to the cloud through a TCP proxy, and the
//     sync service under test.
type rig struct {
	t     testing.TB
	cloud *shadow.Service
	cnc   *nats.Conn // the cloud broker's in-process connection
	proxy *testutil.Proxy
	local *shadow.Service
	link  *iotcore.Service
	nc    *nats.Conn
	sync  *Service
}

func startRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	r := &rig{t: t}
	pki := testutil.NewPKI(t, thing)
	co := broker.DefaultOptions()
	co.NATSListen, co.MQTTListen, co.StoreDir = "127.0.0.1:-1", "127.0.0.1:-1", t.TempDir()
	co.TLSCert, co.TLSKey, co.TLSClientCA, co.TLSMapUsers = pki.ServerCert, pki.ServerKey, pki.CAFile, true
	co.Users = []broker.User{{Name: nucleus, Password: secret}, {Name: "CN=" + thing}}
	co.Logger = testlog.New(t)
	cb, err := broker.New(co)
	if err != nil {
		t.Fatal(err)
	}
	r.cnc = testutil.StartBroker(t, cb, nucleus)
	r.cloud = startShadows(t, r.cnc)
	r.proxy = testutil.StartProxy(t, cb.MQTTAddr())

	do := broker.DefaultOptions()
	do.NATSListen, do.MQTTListen, do.StoreDir = "127.0.0.1:-1", "", t.TempDir()
	do.Users = []broker.User{{Name: nucleus, Password: secret}}
	do.Logger = testlog.New(t)
	db, err := broker.New(do)
	if err != nil {
		t.Fatal(err)
	}
	r.nc = testutil.StartBroker(t, db, nucleus)
	r.local = startShadows(t, r.nc)
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	r.link, err = iotcore.New(iotcore.Options{
		ThingName: thing, Endpoint: "127.0.0.1", Port: r.proxy.Port(), ALPN: false,
		CertFile: pki.ClientCert, KeyFile: pki.ClientKey, RootCAFile: pki.CAFile,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		PublishRate: -1, // IoT Core's 100 publishes/s per connection off: the sync's own limit is what the tests check
		JetStream:   js, Conn: r.nc, Logger: testlog.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.link.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.link.Shutdown(context.Background()) })
	r.startSync(cfg)
	r.waitConnected(true)
	return r
}

func (r *rig) startSync(cfg Config) {
	r.t.Helper()
	r.startSyncOn(cfg, r.link)
}

func (r *rig) startSyncOn(cfg Config, link Link) {
	r.t.Helper()
	s, err := New(Options{Config: cfg, ThingName: thing, Local: r.local, Link: link, Conn: r.nc,
		RequestTimeout: 3 * time.Second, Logger: testlog.New(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.sync = s
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			r.t.Error(err)
		}
	})
}

func startShadows(t testing.TB, nc *nats.Conn) *shadow.Service {
	t.Helper()
	s, err := shadow.New(shadow.Options{Conn: nc, RequestsPerSecondPerThing: -1, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func (r *rig) waitConnected(want bool) {
	r.t.Helper()
	testutil.Until(r.t, fmt.Sprintf("link connected = %v", want), func() bool {
		return r.link.State(context.Background()).Connected == want
	})
}

// cut takes the link down, once the sync has nothing in flight, and waits
// until the device knows. (A write whose answer the cut loses is not
// known to have landed: see "Limits" in edge/shadow/README.md.)
func (r *rig) cut() {
	r.t.Helper()
	r.idle()
	r.proxy.Cut()
	r.waitConnected(false)
}

func (r *rig) restore() {
	r.t.Helper()
	r.proxy.Restore()
	r.waitConnected(true)
}

// side is one of the two shadow services.
type side struct {
	name string
	s    *shadow.Service
}

func (r *rig) localSide() side { return side{"device", r.local} }
func (r *rig) cloudSide() side { return side{"cloud", r.cloud} }

func (sd side) update(t *testing.T, name, doc string) {
	t.Helper()
	if _, err := sd.s.Update(context.Background(), thing, name, []byte(doc)); err != nil {
		t.Fatalf("%s update %s: %v", sd.name, doc, err)
	}
}

func (sd side) delete(t *testing.T, name string) {
	t.Helper()
	if _, err := sd.s.Delete(context.Background(), thing, name); err != nil {
		t.Fatalf("%s delete: %v", sd.name, err)
	}
}

// doc is a shadow's state and version as get returns them.
type doc struct {
	State struct {
		Desired  map[string]any `json:"desired"`
		Reported map[string]any `json:"reported"`
	} `json:"state"`
	Version int64 `json:"version"`
}

// get returns the shadow; ok false when it does not exist.
func (sd side) get(t *testing.T, name string) (doc, bool) {
	t.Helper()
	data, err := sd.s.Get(context.Background(), thing, name)
	if err != nil {
		if e, isErr := err.(*shadow.Error); isErr && e.Code == 404 {
			return doc{}, false
		}
		t.Fatalf("%s get: %v", sd.name, err)
	}
	var d doc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d, true
}

// state is the shadow's desired and reported as compact JSON, "absent"
// when it does not exist.
func (sd side) state(t *testing.T, name string) string {
	t.Helper()
	d, ok := sd.get(t, name)
	if !ok {
		return "absent"
	}
	b, _ := json.Marshal(map[string]any{"desired": d.State.Desired, "reported": d.State.Reported})
	return string(b)
}

// waitState waits until the side's shadow state is want.
func (sd side) waitState(t *testing.T, name, want string) {
	t.Helper()
	testutil.Eventually(t, sd.name+" shadow "+name+" = "+want, func() error {
		if got := sd.state(t, name); got != want {
			return fmt.Errorf("%s", got)
		}
		return nil
	})
}

// idle waits until no shadow is waiting to be synced or syncing.
func (r *rig) idle() {
	r.t.Helper()
	testutil.Until(r.t, "the sync to be idle", func() bool {
		r.sync.mu.Lock()
		defer r.sync.mu.Unlock()
		for _, e := range r.sync.entries {
			if e.dirty || e.queued || e.running {
				return false
			}
		}
		return true
	})
}
