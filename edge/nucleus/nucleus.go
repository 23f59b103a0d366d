package nucleus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/edge/store"
	"github.com/sward-iot/sward/edge/stream"
)

// SubjectComponentState carries every component state change as JSON
// (StateChange). Components and tools may subscribe; only the nucleus publishes.
const SubjectComponentState = "sward.component.state"

// Broker users of the nucleus itself. Components get one user each from
// the IPC registry (ipc.UserPrefix + name); the device user is what
// anonymous loopback clients (sensors) act as, denied the control API.
const (
	userAdmin   = "sward-admin"
	userNucleus = "sward-nucleus"
	userDevice  = "sward-device"
)

// Folders inside the root.
const (
	dirLogs  = "logs"
	dirWork  = "work"
	dirState = "state"
)

// StateChange is the body published on SubjectComponentState.
type StateChange struct {
	Component string    `json:"component"`
	Version   string    `json:"version"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// Nucleus is one running Sward device runtime.
type Nucleus struct {
	opts  Options
	log   *slog.Logger
	lock  *os.File
	store *store.Store

	broker     *broker.Broker
	trust      trust // what local clients verify the listeners' TLS with
	nc         *nats.Conn
	supervisor *lifecycle.Supervisor
	engine     *deployment.Engine
	control    *control.Server
	ipc        *ipc.Server
	shadows    *shadow.Service
	streams    *stream.Manager
	registry   *ipc.Registry
	metrics    *ipc.Metrics
	cancel     context.CancelFunc // stops the watchers

	usersMu    sync.Mutex
	fixedUsers []broker.User
	devices    *Devices
	stopTrim   context.CancelFunc
}

// New validates opts and prepares the root folder. It starts nothing.
func New(opts Options) (*Nucleus, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	n := &Nucleus{opts: opts, log: opts.Logger.With("service", "nucleus"), store: store.New(opts.Root), devices: &Devices{}}
	if opts.DevicesFile != "" {
		d, err := LoadDevices(opts.DevicesFile)
		if err != nil {
			return nil, err
		}
		if d.certificateUsers() && opts.TLSCA == "" {
			return nil, fmt.Errorf("devices file %s: certificate users need --tls-ca, the CA their certificates are signed by", opts.DevicesFile)
		}
		n.devices = d
	}
	if err := protectRoot(opts.Root); err != nil {
		return nil, err
	}
	if err := n.opts.componentIdentity(n.log, os.Geteuid()); err != nil {
		return nil, err
	}
	return n, nil
}

// Start takes the root lock, starts the broker, serves the control API,
// deploys the startup recipes and then writes the admin credential. It does not block.
// On error everything already started is stopped again.
func (n *Nucleus) Start() (err error) {
	start := time.Now()
	defer func() {
		if err != nil {
			n.stop(context.Background())
		}
	}()
	if err := n.takeLock(); err != nil {
		return err
	}
	adminPassword := secret()
	nucleusPassword := secret()
	n.fixedUsers = n.users(adminPassword, nucleusPassword)
	n.registry = ipc.NewRegistry(n.setComponentUsers, n.opts.Logger)
	b, err := broker.New(broker.Options{
		ServerName:    "sward-" + n.opts.ThingName,
		StoreDir:      n.opts.Root, // nats-server keeps its files in <StoreDir>/jetstream
		NATSListen:    n.opts.NATSListen,
		MQTTListen:    mqttListen(n.opts.MQTTListen),
		TLSCert:       n.opts.TLSCert,
		TLSKey:        n.opts.TLSKey,
		TLSClientCA:   n.opts.TLSCA,
		TLSMapUsers:   n.devices.certificateUsers(),
		Users:         n.fixedUsers,
		AnonymousUser: n.anonymousUser(),
		MQTT:          n.opts.MQTT,
		Logger:        n.opts.Logger,
	})
	if err != nil {
		return err
	}
	n.broker = b
	if err := b.Start(); err != nil {
		return err
	}
	if err := b.Ready(10 * time.Second); err != nil {
		return err
	}
	if err := protectStore(n.opts.Root); err != nil {
		return err
	}
	if n.trust, err = n.publishTrust(b.NATSURL()); err != nil {
		return err
	}
	if n.nc, err = b.Connect(userNucleus, nats.Name("sward-nucleus")); err != nil {
		return fmt.Errorf("nucleus connection to the embedded broker: %w", err)
	}
	n.supervisor, err = lifecycle.New(lifecycle.Options{
		WorkDir:       filepath.Join(n.opts.Root, dirWork),
		LogDir:        filepath.Join(n.opts.Root, dirLogs),
		StateDir:      filepath.Join(n.opts.Root, dirState),
		Logger:        n.opts.Logger,
		RunAs:         n.opts.RunAs,
		ComponentUIDs: n.opts.ComponentUIDs,
		DefaultLimits: n.opts.DefaultLimits,
		OnStateChange: n.publishState,
		SessionEnv:    n.sessionEnv,
	})
	if err != nil {
		return err
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return err
	}
	configs, err := config.New(js, config.Options{Logger: n.opts.Logger})
	if err != nil {
		return err
	}
	n.shadows, err = shadow.New(shadow.Options{Conn: n.nc, MaxDocumentBytes: n.opts.ShadowMaxBytes,
		RequestsPerSecondPerThing: n.opts.ShadowRate, Logger: n.opts.Logger})
	if err != nil {
		return err
	}
	if err := n.shadows.Start(context.Background()); err != nil {
		return err
	}
	if err := n.startStreams(context.Background(), js); err != nil {
		return err
	}
	n.metrics = ipc.NewMetrics()
	n.ipc, err = ipc.New(ipc.Options{Conn: n.nc, Registry: n.registry, Supervisor: n.supervisor, Config: configs,
		Shadows: shadows{n.shadows}, Streams: n.streams.ForComponents(), Metrics: n.metrics, Logger: n.opts.Logger})
	if err != nil {
		return err
	}
	n.engine, err = deployment.New(deployment.Options{
		JetStream: js, Store: n.store, Config: configs, Supervisor: n.supervisor,
		Platform: n.opts.Platform, WorkDir: filepath.Join(n.opts.Root, dirWork), KernelRoot: n.opts.Root,
		ThingName: n.opts.ThingName, Env: n.componentEnv, Timeout: n.opts.DeploymentTimeout, Logger: n.opts.Logger,
		CheckConfig: ipc.CheckAccessControl, InterpolateComponentConfiguration: n.opts.InterpolateComponentConfiguration,
		Validate: n.ipc.Validate, Notify: n.ipc.Notify, Updated: n.ipc.Updated,
		BeforeApply: func(cfg config.Snapshot) error { return n.registry.Set(cfg) },
	})
	if err != nil {
		return err
	}
	n.ipc.SetDeployments(deployments{n.engine})
	// Components call the IPC from their first instant: serve it before
	// the engine starts the last good set.
	if err := n.ipc.Start(); err != nil {
		return err
	}
	n.serveMetrics()
	if err := n.engine.Start(); err != nil {
		return err
	}
	if n.control, err = control.NewServer(n.nc, backend{n.supervisor, n.engine}, n.opts.Logger); err != nil {
		return err
	}
	var ctx context.Context
	ctx, n.cancel = context.WithCancel(context.Background())
	if n.opts.RecipesDir != "" {
		n.startupDeployment()
		if err := n.watchFolder(ctx); err != nil {
			return err
		}
	}
	if n.opts.GitRepo != "" {
		if err := n.watchGit(ctx); err != nil {
			return err
		}
	}
	// The credential is written last: its presence tells the CLI and
	// scripts that the nucleus is up and has taken its startup set.
	if err := control.WriteCredential(n.opts.Root, control.Credential{
		NATSURL: b.NATSURL(), User: userAdmin, Password: adminPassword, PID: os.Getpid(),
		TLSCA: n.trust.caFile, TLSServerName: n.trust.serverName,
	}); err != nil {
		return err
	}
	if !n.opts.KeepStartupPages {
		n.trimWhenSettled()
	}
	n.log.Info("nucleus started", "root", n.opts.Root, "nats", b.NATSURL(), "mqtt", b.MQTTAddr(),
		"thing", n.opts.ThingName, "platform", n.opts.Platform, "startup", time.Since(start).String())
	return nil
}

// settleTimeout bounds the wait for the startup set before the start-up
// pages are trimmed anyway: a component stuck in Install for its whole
// 120 s timeout must not keep the nucleus's idle memory high meanwhile.
const settleTimeout = 10 * time.Second

// trimWhenSettled pages out the binary's start-up code (trimStartupPages)
// once every component of the startup set has settled, so that the start
// itself does not fault those pages back in one by one.
func (n *Nucleus) trimWhenSettled() {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	n.stopTrim = cancel
	sup := n.supervisor
	go func() {
		defer cancel()
		for _, st := range sup.List() {
			_, _ = sup.WaitFor(ctx, st.Name, lifecycle.StateRunning, lifecycle.StateFinished, lifecycle.StateBroken)
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return // shutting down
		}
		n.log.Debug("start-up pages paged out", "bytes", trimStartupPages())
	}()
}

// Shutdown stops every component in reverse dependency order, then the
// control API and the broker, and releases the root folder.
func (n *Nucleus) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.ShutdownTimeout)
		defer cancel()
	}
	err := n.stop(ctx)
	n.log.Info("nucleus stopped", "root", n.opts.Root)
	return err
}

func (n *Nucleus) stop(ctx context.Context) error {
	var errs []error
	if n.stopTrim != nil {
		n.stopTrim()
	}
	if n.cancel != nil {
		n.cancel()
		n.cancel = nil
	}
	if n.control != nil {
		n.control.Close()
		n.control = nil
	}
	if n.metrics != nil {
		n.metrics.Close()
	}
	if n.engine != nil {
		n.engine.Close()
		n.engine = nil
	}
	if n.lock != nil {
		errs = append(errs, control.RemoveCredential(n.opts.Root))
	}
	if n.supervisor != nil {
		errs = append(errs, n.supervisor.Shutdown(ctx))
		n.supervisor = nil
	}
	if n.ipc != nil {
		n.ipc.Shutdown()
		n.ipc = nil
	}
	if n.shadows != nil {
		n.shadows.Shutdown()
		n.shadows = nil
	}
	if n.streams != nil {
		n.streams.Shutdown()
		n.streams = nil
	}
	if n.nc != nil {
		n.nc.Close()
		n.nc = nil
	}
	if n.broker != nil {
		n.broker.Shutdown()
		n.broker.WaitForShutdown()
		n.broker = nil
	}
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
	return errors.Join(errs...)
}

// takeLock makes sure only one nucleus owns the root folder; a second one
// gets an error naming the first one's pid.
func (n *Nucleus) takeLock() error {
	path := filepath.Join(n.opts.Root, "sward.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock root folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		buf := make([]byte, 32)
		k, _ := f.ReadAt(buf, 0)
		f.Close()
		return fmt.Errorf("another nucleus (pid %s) already runs with root %s: stop it or choose another --root", string(buf[:k]), n.opts.Root)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	n.lock = f
	return nil
}

func (n *Nucleus) users(adminPassword, nucleusPassword string) []broker.User {
	users := []broker.User{
		{Name: userAdmin, Password: adminPassword},
		{Name: userNucleus, Password: nucleusPassword},
		{Name: userDevice, Password: secret(), Permissions: n.devices.Anonymous.permissions()},
	}
	for _, d := range n.devices.Users {
		users = append(users, broker.User{Name: d.Name, Password: d.Password, Permissions: d.TopicGrants.permissions()})
	}
	return users
}

// anonymousUser maps unauthenticated clients (sensors on the dev loopback
// MQTT listener) to the device user, only when no listener leaves loopback
// and the devices file does not require authentication.
func (n *Nucleus) anonymousUser() string {
	if n.devices.RequireAuth {
		return ""
	}
	if broker.IsLoopbackAddr(n.opts.NATSListen) && (n.opts.MQTTListen == "off" || broker.IsLoopbackAddr(n.opts.MQTTListen)) {
		return userDevice
	}
	return ""
}

func (n *Nucleus) publishState(c lifecycle.StateChange) {
	n.log.Info("component state", "component", c.Component, "version", c.Version,
		"from", string(c.From), "to", string(c.To), "reason", c.Reason)
	if s := n.ipc; s != nil && (c.To == lifecycle.StateFinished || c.To == lifecycle.StateBroken || c.To == lifecycle.StateErrored) {
		// Its processes are gone: so are their subscriptions (a stopped
		// subscriber would otherwise hold every deployment's notification).
		s.SessionEnded(c.Component)
	}
	nc := n.nc
	if nc == nil {
		return
	}
	data, _ := json.Marshal(StateChange{Component: c.Component, Version: c.Version,
		From: string(c.From), To: string(c.To), Reason: c.Reason, At: c.At})
	_ = nc.Publish(SubjectComponentState, data)
}

// mqttListen maps the "off" flag value to the broker's "no MQTT listener".
func mqttListen(addr string) string {
	if addr == "off" {
		return ""
	}
	return addr
}

// serveMetrics starts /metrics; a taken port is retried in the background
// (ipc.Metrics.Serve), so it costs the endpoint for a while, not the
// nucleus.
func (n *Nucleus) serveMetrics() {
	if n.opts.MetricsListen == "off" {
		return
	}
	if err := n.metrics.Serve(n.opts.MetricsListen, n.log); err != nil {
		n.log.Warn("metrics endpoint not started: fix --metrics-listen", "error", err)
	}
}

func (n *Nucleus) workPath(name string) string { return filepath.Join(n.opts.Root, dirWork, name) }

// secret returns a random 128-bit credential, hex-encoded.
func secret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
