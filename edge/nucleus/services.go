package nucleus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sward-iot/sward/edge/authz"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/bridge"
	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/config"
	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/events"
	"github.com/sward-iot/sward/edge/fleet"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/ipc"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/metrics"
	"github.com/sward-iot/sward/edge/secrets"
	"github.com/sward-iot/sward/edge/service"
	"github.com/sward-iot/sward/edge/shadow"
	"github.com/sward-iot/sward/edge/shadowsync"
	"github.com/sward-iot/sward/edge/tes"
)

// The nucleus's services, in the order Start lists them. Each is a thin
// adapter (service.Func) over the service's own API: a constructor that
// needs what an earlier service started runs in the adapter's Start.

// timed logs at debug level how long each service took to start, the
// trace of where start-up time goes (--log-level debug).
func (n *Nucleus) timed(services ...service.Service) []service.Service {
	out := make([]service.Service, len(services))
	for i, s := range services {
		out[i] = service.Func{ServiceName: s.Name(),
			OnStart: func(ctx context.Context) error {
				start := time.Now()
				err := s.Start(ctx)
				n.log.Debug("service started", "name", s.Name(), "took", time.Since(start).String(), "error", err)
				return err
			},
			OnShutdown: s.Shutdown,
		}
	}
	return out
}

// rootLock makes sure only one nucleus owns the root folder.
func (n *Nucleus) rootLock() service.Service {
	return service.Func{ServiceName: "root lock",
		OnStart: func(context.Context) error { return n.takeLock() },
		OnShutdown: func(context.Context) error {
			err := n.lock.Close()
			n.lock = nil
			return err
		},
	}
}

// brokerService starts the embedded broker with the nucleus's and the
// devices' users and publishes the trust bundle local clients verify it with.
func (n *Nucleus) brokerService() service.Service {
	return service.Func{ServiceName: "broker",
		OnStart: func(context.Context) error {
			n.adminPass = secret()
			n.fixedUsers = n.users(n.adminPass, secret())
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
			if err := b.Start(); err != nil {
				return err
			}
			n.broker = b
			err = b.Ready(10 * time.Second)
			if err == nil {
				err = protectStore(n.opts.Root)
			}
			if err == nil {
				n.trust, err = n.publishTrust(b.NATSURL())
			}
			if err != nil {
				b.Shutdown()
				b.WaitForShutdown()
			}
			return err
		},
		OnShutdown: func(context.Context) error {
			n.broker.Shutdown()
			n.broker.WaitForShutdown()
			return nil
		},
	}
}

// connection is the nucleus's own broker connection and JetStream handle,
// shared by the services below.
func (n *Nucleus) connection() service.Service {
	return service.Func{ServiceName: "nucleus connection",
		OnStart: func(context.Context) (err error) {
			if n.nc, err = n.broker.Connect(userNucleus, nats.Name("sward-nucleus")); err != nil {
				return fmt.Errorf("nucleus connection to the embedded broker: %w", err)
			}
			if n.js, err = jetstream.New(n.nc); err != nil {
				n.nc.Close()
			}
			return err
		},
		OnShutdown: func(context.Context) error {
			n.nc.Close()
			return nil
		},
	}
}

// supervisorService prepares the component supervisor; it runs nothing
// until the deployment engine applies a set. Components are stopped by the
// components entry, later in the list; this Shutdown only finishes a start
// that failed before it.
func (n *Nucleus) supervisorService() service.Service {
	return service.Func{ServiceName: "supervisor",
		OnStart: func(context.Context) (err error) {
			n.supervisor, err = lifecycle.New(lifecycle.Options{
				WorkDir:       filepath.Join(n.opts.Root, dirWork),
				LogDir:        filepath.Join(n.opts.Root, dirLogs),
				StateDir:      filepath.Join(n.opts.Root, dirState),
				Logger:        n.opts.Logger,
				RunAs:         n.opts.RunAs,
				ComponentUIDs: n.opts.ComponentUIDs,
				DefaultLimits: n.opts.DefaultLimits,
				OnStateChange: n.publishState,
				Sessions:      sessions{n},
			})
			return err
		},
		OnShutdown: func(ctx context.Context) error { return n.supervisor.Shutdown(ctx) }, // idempotent
	}
}

// configService opens the component configuration store.
func (n *Nucleus) configService() service.Service {
	return service.Func{ServiceName: "config store",
		OnStart: func(context.Context) (err error) {
			n.configs, err = config.New(n.js, config.Options{Logger: n.opts.Logger})
			return err
		},
	}
}

// shadowService serves the local shadows.
func (n *Nucleus) shadowService() service.Service {
	return service.Func{ServiceName: "shadows",
		OnStart: func(ctx context.Context) (err error) {
			n.shadows, err = shadow.New(shadow.Options{Conn: n.nc, MaxDocumentBytes: n.opts.ShadowMaxBytes,
				RequestsPerSecondPerThing: n.opts.ShadowRate, Logger: n.opts.Logger})
			if err != nil {
				return err
			}
			if err := n.shadows.Start(ctx); err != nil {
				n.shadows.Shutdown()
				return err
			}
			return nil
		},
		OnShutdown: func(context.Context) error {
			n.shadows.Shutdown()
			return nil
		},
	}
}

// streamService runs the stream manager, its exporters and the status stream.
func (n *Nucleus) streamService() service.Service {
	return service.Func{ServiceName: "streams",
		OnStart: func(ctx context.Context) error {
			err := n.startStreams(ctx, n.js)
			if err != nil && n.streams != nil {
				n.streams.Shutdown()
			}
			return err
		},
		OnShutdown: func(context.Context) error {
			n.streams.Shutdown()
			return nil
		},
	}
}

// eventsService keeps the components' subscriptions (configuration
// updates, validation, component updates) and follows the configuration
// store for them; the IPC and the deployment engine below both use it.
func (n *Nucleus) eventsService() service.Service {
	return service.Func{ServiceName: "subscription events",
		OnStart: func(ctx context.Context) (err error) {
			if n.events, err = events.New(events.Options{Conn: n.nc, Config: n.configs, Logger: n.opts.Logger}); err != nil {
				return err
			}
			return n.events.Start(ctx)
		},
		OnShutdown: func(ctx context.Context) error { return n.events.Shutdown(ctx) },
	}
}

// tokenExchange serves AWS credentials to the components that depend on
// aws.greengrass.TokenExchangeService, and to the stream exporters, when
// Options.Cloud names the credentials provider and role alias; the
// deployment engine gives components its variables (componentEnv), and it
// outlives them.
func (n *Nucleus) tokenExchange() service.Service {
	return service.Func{ServiceName: "token exchange",
		OnStart: func(ctx context.Context) error {
			c := n.opts.Cloud
			if !tokenExchangeConfigured(c) {
				return nil
			}
			proxy, err := c.Proxy.HTTPProxy() // checked by Options.Cloud.Validate
			if err != nil {
				return err
			}
			s, err := tes.New(tes.Options{Endpoint: c.CredentialsEndpoint, RoleAlias: c.RoleAlias, ThingName: c.ThingName,
				CertificateFile: c.CertificateFile, PrivateKeyFile: c.PrivateKeyFile, RootCAFile: c.RootCAFile,
				Proxy: proxy, Logger: n.opts.Logger})
			if err == nil {
				err = s.Start(ctx)
			}
			if err == nil {
				n.tes = s
			}
			return err
		},
		OnShutdown: func(ctx context.Context) error {
			if n.tes == nil {
				return nil
			}
			return n.tes.Shutdown(ctx)
		},
	}
}

// secretManager fetches Options.CloudSecrets with the token exchange
// service's credentials (without it, the secrets are served from the store
// only) and keeps them in <root>/secrets for GetSecretValue. The
// AWS_ENDPOINT_URL_SECRETS_MANAGER variable, else AWS_ENDPOINT_URL, as the
// AWS SDKs read them, points it at another endpoint.
func (n *Nucleus) secretManager() service.Service {
	return service.Func{ServiceName: "secret manager",
		OnStart: func(ctx context.Context) error {
			if len(n.opts.CloudSecrets) == 0 {
				return nil
			}
			c := n.opts.Cloud
			o := secrets.Options{CloudSecrets: n.opts.CloudSecrets, Dir: filepath.Join(n.opts.Root, "secrets"), KeyFile: c.PrivateKeyFile,
				Region: c.Region, Endpoint: cmp.Or(os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), os.Getenv("AWS_ENDPOINT_URL")), Conn: n.nc, Logger: n.opts.Logger}
			if n.tes != nil {
				o.Credentials = n.tes
				o.HTTPClient = n.proxiedHTTPClient()
			}
			s, err := secrets.New(o)
			if err == nil {
				err = s.Start(ctx)
			}
			if err == nil {
				n.secrets = s
			}
			return err
		},
		OnShutdown: func(ctx context.Context) error {
			if n.secrets == nil {
				return nil
			}
			return n.secrets.Shutdown(ctx)
		},
	}
}

// ipcService serves the components' IPC. The deployment engine is built
// here, before the IPC's operation table (its CreateLocalDeployment is in
// the table); it starts later, in deploymentService. Components call the
// IPC from their first instant: it serves before the engine starts any.
func (n *Nucleus) ipcService() service.Service {
	return service.Func{ServiceName: "ipc",
		OnStart: func(ctx context.Context) (err error) {
			n.metrics = metrics.New()
			if n.link != nil {
				n.metrics.Registry.MustRegister(n.link.Collector())
			}
			n.store = n.componentStore(ctx)
			n.engine, err = deployment.New(deployment.Options{
				JetStream: n.js, Store: n.store, Config: n.configs, Supervisor: n.supervisor,
				Platform: n.opts.Platform, WorkDir: filepath.Join(n.opts.Root, dirWork), KernelRoot: n.opts.Root,
				ThingName: n.opts.ThingName, Env: n.componentEnv, Timeout: n.opts.DeploymentTimeout, Logger: n.opts.Logger,
				CheckConfig: authz.CheckAccessControl, InterpolateComponentConfiguration: n.opts.InterpolateComponentConfiguration,
				Participants: n.events, Identities: identities{n}, Builtin: n.builtin,
			})
			if err != nil {
				return err
			}
			n.ipc, err = ipc.New(ipc.Options{Conn: n.nc, Authorizer: n.registry, Operations: n.operations(),
				Metrics: n.metrics, Logger: n.opts.Logger})
			if err != nil {
				return err
			}
			if err := n.ipc.Start(); err != nil {
				n.ipc.Shutdown()
				return err
			}
			return nil
		},
		OnShutdown: func(context.Context) error {
			n.ipc.Shutdown()
			return nil
		},
	}
}

// iotcoreService connects to AWS IoT Core when Options.IoTCore names an
// endpoint (ipcService puts the link's figures on /metrics). A
// configuration it refuses (a missing certificate file) is logged as an
// error and the nucleus runs without the link. It comes before the IPC,
// whose PublishToIoTCore and SubscribeToIoTCore are the link's, and so
// before components: it is up before any component runs, and stops after
// they all have.
func (n *Nucleus) iotcoreService() service.Service {
	return service.Func{ServiceName: "iotcore",
		OnStart: func(ctx context.Context) (err error) {
			o := n.opts.IoTCore
			if o.Endpoint == "" {
				return nil
			}
			o.ThingName, o.JetStream, o.Conn, o.Logger = n.opts.ThingName, n.js, n.nc, n.opts.Logger
			if n.link, err = iotcore.New(o); err == nil {
				err = n.link.Start(ctx)
			}
			if err != nil {
				// The device keeps running its components without the cloud.
				n.log.Error("cloud link not started: fix its configuration and restart the nucleus", "error", err)
				n.link = nil
				return nil
			}
			return nil
		},
		OnShutdown: func(ctx context.Context) error {
			if n.link == nil {
				return nil
			}
			err := n.link.Shutdown(ctx)
			n.link = nil
			return err
		},
	}
}

// bridgeService runs the MQTT bridge when Options.Bridge has mappings,
// between the local broker (the nucleus's connection) and the IoT Core
// link, and puts its counters on /metrics. Bad mappings, an IotCore mapping without a link, or a subscription
// IoT Core refuses are logged as an error naming the mapping, and the
// nucleus runs without the bridge, as it does without the link. It comes
// after the link and the IPC (which makes the /metrics registry) and
// before components: it stops after they have, while the link still takes
// what it bridges.
func (n *Nucleus) bridgeService() service.Service {
	var b *bridge.Bridge
	return service.Func{ServiceName: "bridge",
		OnStart: func(ctx context.Context) (err error) {
			if len(n.opts.Bridge) == 0 {
				return nil
			}
			var link bridge.Link // a nil *iotcore.Service would not be a nil Link
			if n.link != nil {
				link = n.link
			}
			if b, err = bridge.New(bridge.Options{Mappings: n.opts.Bridge, Conn: n.nc, Link: link, Logger: n.opts.Logger}); err == nil {
				err = b.Start(ctx)
			}
			if err != nil {
				n.log.Error("MQTT bridge not started: fix its mqttTopicMapping and restart the nucleus", "error", err)
				b = nil
				return nil
			}
			n.metrics.Registry.MustRegister(b.Collector())
			return nil
		},
		OnShutdown: func(ctx context.Context) error {
			if b == nil {
				return nil
			}
			return b.Shutdown(ctx)
		},
	}
}

// fleetService reports the device's components to the cloud (edge/fleet)
// when the IoT Core link runs. It comes after the link and before the
// deployment service, so it sees every state change of the startup set.
func (n *Nucleus) fleetService() service.Service {
	var fs *fleet.Service
	return service.Func{ServiceName: "fleet status",
		OnStart: func(ctx context.Context) (err error) {
			if n.link == nil {
				return nil
			}
			fs, err = fleet.New(fleet.Options{ThingName: n.opts.ThingName, Conn: n.nc, Link: n.link,
				Interval: n.opts.Cloud.FleetStatusInterval, Logger: n.opts.Logger})
			if err == nil {
				err = fs.Start(ctx)
			}
			if err != nil {
				fs = nil
				return err
			}
			return nil
		},
		OnShutdown: func(ctx context.Context) error {
			if fs == nil {
				return nil
			}
			return fs.Shutdown(ctx)
		},
	}
}

// shadowSyncService syncs the configured local shadows with IoT Core
// (edge/shadowsync) when the link runs. A configuration it refuses, or a
// sync without a link, is logged: the nucleus runs without the sync.
func (n *Nucleus) shadowSyncService() service.Service {
	var ss *shadowsync.Service
	return service.Func{ServiceName: "shadow sync",
		OnStart: func(ctx context.Context) (err error) {
			if n.opts.ShadowSync == nil {
				return nil
			}
			if _, err := n.opts.ShadowSync.Shadows(n.opts.ThingName); err != nil {
				n.log.Error("shadow sync not started: fix the shadow manager configuration and restart the nucleus", "error", err)
				return nil
			}
			if n.link == nil {
				n.log.Error("shadow sync not started: it needs the IoT Core link; set iotDataEndpoint (and the device's certificate) in the config file",
					"key", shadowsync.ConfigPath+".synchronize")
				return nil
			}
			ss, err = shadowsync.New(shadowsync.Options{Config: *n.opts.ShadowSync, ThingName: n.opts.ThingName,
				Local: n.shadows, Link: n.link, Conn: n.nc, Logger: n.opts.Logger})
			if err == nil {
				err = ss.Start(ctx)
			}
			if err != nil {
				n.log.Error("shadow sync not started: fix the shadow manager configuration and restart the nucleus", "error", err)
				ss = nil
				return nil
			}
			n.metrics.Registry.MustRegister(ss.Collector())
			return nil
		},
		OnShutdown: func(ctx context.Context) error {
			if ss == nil {
				return nil
			}
			return ss.Shutdown(ctx)
		},
	}
}

// components stops every component, in reverse dependency order, while
// the IPC, shadows and streams listed before it still answer them.
func (n *Nucleus) components() service.Service {
	return service.Func{ServiceName: "components",
		OnShutdown: func(ctx context.Context) error { return n.supervisor.Shutdown(ctx) },
	}
}

// metricsService serves /metrics; a taken port is retried in the
// background (metrics.Metrics.Serve), so it costs the endpoint for a while,
// not the nucleus.
func (n *Nucleus) metricsService() service.Service {
	return service.Func{ServiceName: "metrics",
		OnStart: func(context.Context) error {
			if n.opts.MetricsListen == "off" {
				return nil
			}
			if err := n.metrics.Serve(n.opts.MetricsListen, n.log); err != nil {
				n.log.Warn("metrics endpoint not started: fix --metrics-listen", "error", err)
			}
			return nil
		},
		OnShutdown: func(context.Context) error {
			n.metrics.Close()
			return nil
		},
	}
}

// deploymentService starts the engine: it recovers an interrupted
// deployment or hands the last good set to the supervisor, then runs
// queued deployments. Its Shutdown stops taking deployments; components
// keep running until the components entry stops them.
func (n *Nucleus) deploymentService() service.Service {
	return service.Func{ServiceName: "deployment engine",
		OnStart: func(context.Context) error { return n.engine.Start() },
		OnShutdown: func(context.Context) error {
			n.engine.Close()
			return nil
		},
	}
}

// controlService answers the control API (the sward CLI).
func (n *Nucleus) controlService() service.Service {
	return service.Func{ServiceName: "control API",
		OnStart: func(context.Context) error {
			n.control = control.NewServer(n.nc, backend{n.supervisor, n.engine, n.link}, n.opts.Logger)
			return n.control.Start()
		},
		OnShutdown: func(context.Context) error {
			n.control.Close()
			return nil
		},
	}
}

// folderWatcher deploys --recipes at start, waits until the supervisor has
// it, and redeploys it whenever it (or --artifacts) changes.
func (n *Nucleus) folderWatcher() service.Service {
	bg := newBackground()
	return service.Func{ServiceName: "folder watcher",
		OnStart: func(context.Context) error {
			if n.opts.RecipesDir == "" {
				return nil
			}
			n.startupDeployment()
			return n.watchFolder(bg)
		},
		OnShutdown: bg.stop,
	}
}

// gitWatcher deploys every new commit of --git's branch.
func (n *Nucleus) gitWatcher() service.Service {
	bg := newBackground()
	return service.Func{ServiceName: "git watcher",
		OnStart: func(context.Context) error {
			if n.opts.GitRepo == "" {
				return nil
			}
			return n.watchGit(bg)
		},
		OnShutdown: bg.stop,
	}
}

// credential writes the admin credential, last: its presence tells the
// CLI and scripts that the nucleus is up and has taken its startup set.
// It is removed first at shutdown.
func (n *Nucleus) credential() service.Service {
	return service.Func{ServiceName: "admin credential",
		OnStart: func(context.Context) error {
			return control.WriteCredential(n.opts.Root, control.Credential{
				NATSURL: n.broker.NATSURL(), User: userAdmin, Password: n.adminPass, PID: os.Getpid(),
				TLSCA: n.trust.caFile, TLSServerName: n.trust.serverName,
			})
		},
		OnShutdown: func(context.Context) error { return control.RemoveCredential(n.opts.Root) },
	}
}

// settleTimeout bounds the wait for the startup set before the start-up
// pages are trimmed anyway: a component stuck in Install for its whole
// 120 s timeout must not keep the nucleus's idle memory high meanwhile.
const settleTimeout = 10 * time.Second

// firstReportsDelay is how long the trimmer lets the cloud link work after
// its first connection (fleet status gathers reports for a second, then
// publishes) before it pages the start-up code out.
const firstReportsDelay = 2 * time.Second

// pageTrimmer pages out the binary's start-up code (trimStartupPages) and
// returns the start-up's freed heap to the kernel (debug.FreeOSMemory) once
// every component of the startup set has settled and the start-up
// deployment has ended (its records written, SUCCEEDED or not) and, with a
// cloud link, the link has connected once (within settleTimeout), so that
// neither the start nor the deployment's last steps fault those pages back
// in one by one.
func (n *Nucleus) pageTrimmer() service.Service {
	bg := newBackground()
	return service.Func{ServiceName: "page trimmer",
		OnStart: func(context.Context) error {
			if n.opts.KeepStartupPages {
				return nil
			}
			sup, engine, startup, link := n.supervisor, n.engine, n.startupID, n.link
			bg.Go(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, settleTimeout)
				defer cancel()
				for _, st := range sup.List() {
					_, _ = sup.WaitFor(ctx, st.Name, lifecycle.StateRunning, lifecycle.StateFinished, lifecycle.StateBroken)
				}
				if startup != "" {
					_, _ = engine.Wait(ctx, startup)
				}
				if link != nil {
					// The first connection runs TLS, x509 and MQTT code
					// once, and the first reports over it (fleet status
					// gathers for a second) the publish path: paged out
					// before them, those pages would fault back in and stay.
					waitConnected(ctx, link)
					select {
					case <-ctx.Done():
					case <-time.After(firstReportsDelay):
					}
				}
				if errors.Is(ctx.Err(), context.Canceled) {
					return // shutting down
				}
				// The start-up's garbage (recipes parsed, records and
				// configuration encoded, every component's start) goes back
				// to the kernel too, instead of waiting for the scavenger.
				debug.FreeOSMemory()
				n.log.Debug("start-up pages paged out", "bytes", trimStartupPages())
			})
			return nil
		},
		OnShutdown: bg.stop,
	}
}

// waitConnected returns once the IoT Core link is connected, or when ctx
// ends.
func waitConnected(ctx context.Context, link *iotcore.Service) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !link.State(ctx).Connected {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// background runs a service's goroutines under one context; stop cancels
// it and waits for every one of them.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// Go runs f in a goroutine that stop waits for.
func (b *background) Go(f func(ctx context.Context)) {
	b.wg.Go(func() { f(b.ctx) })
}

// stop cancels the goroutines and waits for them, or for ctx.
func (b *background) stop(ctx context.Context) error {
	b.cancel()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("goroutines still running: %w", ctx.Err())
	}
}
