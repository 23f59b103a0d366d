package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/sward-iot/sward/edge/bridge"
	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/edge/lifecycle"
	"github.com/sward-iot/sward/edge/nucleus"
)

// Nucleus log rotation: 10 MB × 3 files bounds the nucleus's own log at 40 MB
// on a small board's SD card while keeping a day of INFO logs at typical rates.
const (
	nucleusLogMaxMB   = 10
	nucleusLogBackups = 3
)

func newRunCommand() *cobra.Command {
	var (
		opts     nucleus.Options
		platform string
		level    string
		limits   string
		config   string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the nucleus: broker, supervisor and the components of --recipes",
		Long: `Run the nucleus in the foreground until SIGINT or SIGTERM.

The nucleus embeds a NATS server (--nats-listen) with an MQTT 3.1.1 listener
(--mqtt-listen) and JetStream under <root>/jetstream, and deploys the latest
version of every component found in --recipes (again whenever the folder
changes), taking their artifacts from --artifacts laid out as
<dir>/<Name>/<Version>/<file>. With --git it deploys every new commit of a
local repository's branch. A restart runs the last good set first. Logs are JSON on stderr
and in <root>/logs/sward.log; component output goes to <root>/logs/<Name>.log.

--config reads a device configuration file in the shape of Greengrass's
config.yaml (system, services.aws.greengrass.Nucleus.configuration) with
Sward's own settings under sward: as flag names; a flag given on the
command line wins over the file (docs/configuration.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				file     *devconfig.File
				warnings []devconfig.Warning
			)
			if config != "" {
				var err error
				if file, warnings, err = devconfig.Load(config); err != nil {
					return err
				}
				more, err := applyConfig(cmd, config, file)
				if err != nil {
					return err
				}
				warnings = append(warnings, more...)
			}
			opts.Root = rootFlag(cmd)
			p, err := platformFlag(platform)
			if err != nil {
				return err
			}
			opts.Platform = p
			if limits != "" {
				l, err := parseResourceLimits("--default-system-limits", limits)
				if err != nil {
					return err
				}
				opts.DefaultLimits = lifecycle.ResourceLimits{MemoryKB: l.Memory, CPUs: l.CPUs}
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level %q is not a level: use debug, info, warn or error", level)
			}
			if err := os.MkdirAll(filepath.Join(opts.Root, "logs"), 0o700); err != nil {
				return fmt.Errorf("root folder %s: %w", opts.Root, err)
			}
			logFile := &lumberjack.Logger{
				Filename:   filepath.Join(opts.Root, "logs", "sward.log"),
				MaxSize:    nucleusLogMaxMB,
				MaxBackups: nucleusLogBackups,
			}
			defer logFile.Close()
			opts.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(cmd.ErrOrStderr(), logFile), &slog.HandlerOptions{Level: lvl}))
			for _, w := range warnings {
				opts.Logger.Warn("config file: "+w.Msg, "service", "nucleus", "file", config, "key", w.Path, "line", w.Line)
			}
			if file != nil {
				for _, m := range file.TopicMappings() {
					opts.Bridge = append(opts.Bridge, bridge.Mapping(m))
				}
				opts.Cloud = file.Cloud()
				opts.ComponentStoreMaxSizeBytes = file.Nucleus.ComponentStoreMaxSizeBytes
				opts.CloudSecrets = file.SecretManager.ARNs()
				if opts.Cloud.Configured() {
					// A flag given on the command line decides who the device is.
					if opts.ThingName != "" {
						opts.Cloud.ThingName = opts.ThingName
					}
					if opts.Region != "" {
						opts.Cloud.Region = opts.Region
					}
					if err := opts.Cloud.Validate(); err != nil {
						return fmt.Errorf("config file %s: %w", config, err)
					}
				}
			}
			return runNucleus(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "device configuration file (YAML, Greengrass config.yaml shape plus a sward: section of flag names); flags given here win over it")
	f.StringVar(&opts.RecipesDir, "recipes", "", "deploy the latest version of every recipe in this folder at start")
	f.StringVar(&opts.ArtifactsDir, "artifacts", "", "artifact folder laid out as <dir>/<Name>/<Version>/<file>")
	f.StringVar(&opts.GitRepo, "git", "", "local git repository: deploy every new commit of --branch (needs the git binary)")
	f.StringVar(&opts.GitBranch, "branch", "", "branch --git follows (default: the checked-out one)")
	f.StringVar(&opts.GitPath, "git-path", "recipes", "folder of the committed tree that holds the recipes")
	f.StringVar(&opts.FailureHandling, "failure-handling-policy", "ROLLBACK", "ROLLBACK or DO_NOTHING for the --recipes and --git deployments")
	f.DurationVar(&opts.DeploymentTimeout, "deployment-timeout", 0, "how long a deployment waits for its components to settle (default 5m)")
	f.StringVar(&opts.NATSListen, "nats-listen", "127.0.0.1:4222", "NATS listener host:port (non-loopback needs --tls-cert/--tls-key)")
	f.StringVar(&opts.MQTTListen, "mqtt-listen", "127.0.0.1:1883", `MQTT 3.1.1 listener host:port, or "off"`)
	f.StringVar(&opts.MetricsListen, "metrics-listen", nucleus.DefaultMetricsListen, `Prometheus /metrics endpoint on loopback host:port (port 0: random), or "off"`)
	f.StringVar(&opts.DevicesFile, "devices", "", "client-device file (YAML): MQTT users, their topics, requireAuth (docs/ipc.md)")
	f.IntVar(&opts.ShadowMaxBytes, "shadow-max-bytes", 0, "largest local shadow document in bytes (default 8192, at most 30720)")
	f.IntVar(&opts.ShadowRate, "shadow-rate", 0, "shadow requests per second per thing (default 20; negative: unlimited)")
	f.Int64Var(&opts.MQTT.RetainedMaxBytes, "mqtt-retained-max-bytes", broker.DefaultMQTTRetainedMaxBytes, "bytes all MQTT retained messages may take together")
	f.Int64Var(&opts.MQTT.RetainedMaxMessages, "mqtt-retained-max-messages", broker.DefaultMQTTRetainedMaxMessages, "MQTT topics that may hold a retained message")
	f.Int32Var(&opts.MQTT.RetainedMaxMessageBytes, "mqtt-retained-max-message-bytes", broker.DefaultMQTTRetainedMaxMessageBytes, "largest MQTT retained message in bytes")
	f.Int64Var(&opts.MQTT.MaxSessions, "mqtt-max-sessions", broker.DefaultMQTTMaxSessions, "MQTT sessions (client ids) the broker keeps")
	f.Int32Var(&opts.MQTT.SessionMaxBytes, "mqtt-session-max-bytes", broker.DefaultMQTTSessionMaxBytes, "largest MQTT session record (a client's subscriptions) in bytes")
	f.Int64Var(&opts.MQTT.PendingMaxBytes, "mqtt-pending-max-bytes", broker.DefaultMQTTPendingMaxBytes, "bytes of MQTT QoS 1/2 messages kept for subscribers that have not acknowledged them (oldest dropped)")
	f.StringVar(&opts.TLSCert, "tls-cert", "", "TLS certificate (PEM) for the listeners")
	f.StringVar(&opts.TLSKey, "tls-key", "", "TLS private key (PEM) for the listeners")
	f.StringVar(&opts.TLSCA, "tls-ca", "", "CA bundle (PEM) that client certificates must chain to (mutual TLS)")
	f.StringVar(&opts.TLSServerCA, "tls-server-ca", "", "CA bundle (PEM) that signed --tls-cert, published to components and the CLI as <root>/public/ca.pem (default: the CA certificates after the leaf in --tls-cert, else the leaf)")
	f.StringVar(&opts.ThingName, "thing-name", "", "AWS IoT thing name of this device (default: host name)")
	f.StringVar(&opts.Region, "region", "", "AWS region components see (default: $AWS_REGION, else us-east-1)")
	f.StringVar(&opts.RunAs, "run-as", "", `"user[:group]" for non-privileged steps when the nucleus runs as root (default sward_user:sward_group, created when missing)`)
	f.BoolVar(&opts.ComponentUIDs, "component-uids", false, "give each component its own uid/gid (61184-65519, kept in <root>/state/uids.json) when the nucleus runs as root; runWith posixUser still wins")
	f.StringVar(&limits, "default-system-limits", "", `systemResourceLimits for components whose deployment sets none, {"cpus":1,"memory":262144} (memory in KB)`)
	f.StringVar(&platform, "platform", "", platformFlagHelp)
	f.BoolVar(&opts.InterpolateComponentConfiguration, "interpolate-component-configuration", false,
		"expand recipe variables such as {iot:thingName} and {work:path} in components' configuration values (Greengrass's interpolateComponentConfiguration)")
	f.BoolVar(&opts.KeepStartupPages, "keep-startup-pages", false, "do not page out the binary's start-up code once started (for measuring)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// runNucleus starts the nucleus and blocks until a signal or ctx ends it.
func runNucleus(ctx context.Context, opts nucleus.Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := nucleus.New(opts)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return withListenFlag(err)
	}
	<-ctx.Done()
	stop() // a second Ctrl-C kills the process the default way
	opts.Logger.Info("shutting down", "service", "nucleus", "reason", strings.TrimPrefix(context.Cause(ctx).Error(), "context "))
	return n.Shutdown(context.Background())
}

// withListenFlag adds to a listener that cannot bind the flag that moves
// it: another nucleus (on another root) or broker has the port.
func withListenFlag(err error) error {
	var le *broker.ListenError
	if !errors.As(err, &le) {
		return err
	}
	return fmt.Errorf("%w: another nucleus or broker listens there; stop it, or pass --%s-listen a free address (a second nucleus needs its own --root, --nats-listen, --mqtt-listen and --metrics-listen)", err, le.Listener)
}
