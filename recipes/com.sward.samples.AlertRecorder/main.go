// Command alert-recorder is the com.sward.samples.AlertRecorder component:
// a background process, launched by the Startup step, that subscribes to
// the anomaly detector's alerts (and, with an AWS IoT Core link, the
// cloud's alerts for this thing on sward/<thing>/alerts) and appends them
// to a size-bounded JSON Lines journal in the component's work folder.
//
//	alert-recorder start [flags]  launch the recorder in the background; exit 0 once it is subscribed
//	alert-recorder stop  [flags]  stop it (SIGTERM, then SIGKILL after -stop-timeout)
//	alert-recorder run   [flags]  record in the foreground (what start launches)
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sward-iot/sward/recipes/internal/component"
)

// Defaults. The step timeouts stay inside the recipe's Startup (30 s) and
// Shutdown (15 s) timeouts so the binary, not the nucleus, reports a failure.
const (
	defaultMaxBytes     = 1 << 20 // 1 MiB: thousands of alerts, nothing on any SD card
	defaultKeep         = 2
	defaultStartTimeout = 20 * time.Second
	defaultStopTimeout  = 10 * time.Second
)

func main() { os.Exit(cli(os.Args[1:], component.FromEnv(), os.Stdout)) }

// cli runs one command and returns the exit code.
func cli(args []string, env component.Env, stdout io.Writer) int {
	log := env.Logger(stdout)
	if len(args) == 0 {
		log.Error("usage: alert-recorder start|stop|run [flags]")
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("alert-recorder "+cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	o := Options{Env: env}
	fs.StringVar(&o.PIDFile, "pidfile", filepath.Join(env.WorkPath, "alert-recorder.pid"), "pid file of the background recorder")
	fs.StringVar(&o.Subject, "subject", "sward.alerts.>", "NATS subject of the alerts to record")
	fs.StringVar(&o.File, "file", filepath.Join(env.WorkPath, "alerts.jsonl"), "journal file")
	fs.BoolVar(&o.CloudAlerts, "cloud", true, "also record the alerts the cloud publishes for this device on sward/<thing>/alerts (SubscribeToIoTCore); local alerts only when the nucleus has no link")
	fs.Int64Var(&o.MaxBytes, "max-bytes", defaultMaxBytes, "size limit of one journal file")
	fs.IntVar(&o.Keep, "keep", defaultKeep, "rotated journal files kept")
	startTimeout := fs.Duration("start-timeout", defaultStartTimeout, "start: how long to wait for the recorder to subscribe")
	stopTimeout := fs.Duration("stop-timeout", defaultStopTimeout, "stop: how long to wait after SIGTERM before SIGKILL")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	switch cmd {
	case "start":
		err = start(o, *startTimeout, log)
	case "stop":
		err = stopRecorder(o.PIDFile, *stopTimeout, log)
	case "run":
		err = run(o, log)
	default:
		err = fmt.Errorf("unknown command %q: want start, stop or run", cmd)
	}
	if err != nil {
		log.Error(cmd+" failed", "err", err)
		return 1
	}
	return 0
}

func start(o Options, timeout time.Duration, log *slog.Logger) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	runArgs := []string{"run", "-pidfile", o.PIDFile, "-subject", o.Subject, "-file", o.File, "-cloud=" + strconv.FormatBool(o.CloudAlerts),
		"-max-bytes", strconv.FormatInt(o.MaxBytes, 10), "-keep", strconv.Itoa(o.Keep)}
	// The recorder inherits the step's stdout: the nucleus keeps reading it
	// after Startup exits, so its log lands in the component's log file.
	return startRecorder(self, runArgs, o.PIDFile, os.Stdout, timeout, log)
}

// run records until SIGTERM; the pid file exists exactly while it is
// subscribed.
func run(o Options, log *slog.Logger) error {
	ctx, stop := component.SignalContext()
	defer stop()
	svc, err := Start(o, log)
	if err != nil {
		return err
	}
	defer svc.Shutdown()
	if err := writePID(o.PIDFile); err != nil {
		return err
	}
	defer removeOwnPID(o.PIDFile)
	<-ctx.Done()
	log.Info("stopping")
	return nil
}
