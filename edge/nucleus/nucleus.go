package nucleus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/iotcore"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/events"
	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/metrics"
	"github.com/sward-iot/sward/edge/secrets"
	"github.com/sward-iot/sward/edge/service"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/edge/store"
	"github.com/sward-iot/sward/edge/stream"
	"github.com/sward-iot/sward/edge/tes"
)

// SubjectComponentState carries every component state change as JSON
// (StateChange). Components and tools may subscribe; only the nucleus publishes.
const SubjectComponentState = "sward.component.state"

// Broker users of the nucleus itself. Components get one user each from
// the identity registry (authz.UserPrefix + name); the device user is what
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
	events     *events.Registry
	ipc        *ipc.Server
	link       *iotcore.Service // nil without a link (no endpoint, or it could not start)
	shadows    *shadow.Service
	streams    *stream.Manager
	tes        *tes.Service     // nil without a credentials provider in Options.Cloud
	secrets    *secrets.Service // nil without Options.CloudSecrets
	registry   *authz.Registry
	metrics    *metrics.Metrics
	js         jetstream.JetStream
	configs    *config.Store
	adminPass  string
	services   *service.List // what Start started, for Shutdown

	// startupID is the --recipes deployment Start queued, "" when none:
	// the page trimmer waits for its end.
	startupID string

	usersMu    sync.Mutex
	fixedUsers []broker.User
	devices    *Devices
}

// New validates opts and prepares the root folder. It starts nothing.
func New(opts Options) (*Nucleus, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	n := &Nucleus{opts: opts, log: opts.Logger.With("service", "nucleus"), devices: &Devices{}}
	n.registry = authz.NewRegistry(n.setComponentUsers, opts.Logger)
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

// Start starts the nucleus's services in the order of the list below and
// does not block. On error the services already started are shut down
// again, in reverse order. The admin credential is written last: its
// presence tells the CLI and scripts that the nucleus is up and has taken
// its startup set.
func (n *Nucleus) Start() error {
	start := time.Now()
	list, err := service.Run(context.Background(), n.timed(
		n.rootLock(),
		n.brokerService(),
		n.connection(),
		n.tokenExchange(), // needs nothing; before the streams, whose exporters use it
		// These four need only the connection, not each other: started at
		// once, a fresh root's buckets and streams are created in parallel.
		service.Concurrent("supervisor, config store, shadows and streams", n.timed(
			n.supervisorService(),
			n.configService(),
			n.shadowService(),
			n.streamService(),
		)...),
		n.eventsService(),
		n.iotcoreService(),
		n.secretManager(), // uses the token exchange; before the IPC, which serves its GetSecretValue
		n.ipcService(),
		n.bridgeService(),
		n.fleetService(),
		n.components(),
		n.metricsService(),
		n.deploymentService(),
		n.jobsService(), // the cloud's deployments, with the link
		n.controlService(),
		n.folderWatcher(),
		n.gitWatcher(),
		n.credential(),
		n.pageTrimmer(),
	)...)
	if err != nil {
		return err
	}
	n.services = list
	n.log.Info("nucleus started", "root", n.opts.Root, "nats", n.broker.NATSURL(), "mqtt", n.broker.MQTTAddr(),
		"thing", n.opts.ThingName, "platform", n.opts.Platform, "startup", time.Since(start).String())
	return nil
}

// Shutdown shuts the services down in reverse start order: the watchers,
// control API and engine first, then every component in reverse
// dependency order (while the IPC still answers them), then the IPC,
// streams, shadows, the broker, and last the root folder.
func (n *Nucleus) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.opts.ShutdownTimeout)
		defer cancel()
	}
	var err error
	if n.services != nil {
		err = n.services.Shutdown(ctx)
	}
	n.log.Info("nucleus stopped", "root", n.opts.Root)
	return err
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
	if c.To == lifecycle.StateFinished || c.To == lifecycle.StateBroken || c.To == lifecycle.StateErrored {
		// Its processes are gone: so are their subscriptions (a stopped
		// subscriber would otherwise hold every deployment's notification).
		n.sessionEnded(c.Component)
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

func (n *Nucleus) workPath(name string) string { return filepath.Join(n.opts.Root, dirWork, name) }

// secret returns a random 128-bit credential, hex-encoded.
func secret() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
