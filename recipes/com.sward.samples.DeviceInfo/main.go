// Command device-info is the com.sward.samples.DeviceInfo component: a
// one-shot that collects device facts (hostname, OS and architecture, kernel,
// CPUs, memory, uptime), writes them as JSON into its work folder and
// publishes them once on NATS, then exits so the component is FINISHED.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sward-iot/sward/recipes/internal/component"
)

func main() {
	env := component.FromEnv()
	log := env.Logger(os.Stdout)
	out := flag.String("out", filepath.Join(env.WorkPath, "device-info.json"), "file the facts are written to")
	subject := flag.String("subject", "sward.device.info", "NATS subject the facts are published on; empty publishes nothing")
	proc := flag.String("proc", "/proc", "procfs mount")
	osRelease := flag.String("os-release", "/etc/os-release", "os-release file")
	flag.Parse()

	facts := Collect(Sources{Proc: *proc, OSRelease: *osRelease, Hostname: os.Hostname}, env.ThingName, time.Now().UTC())
	if err := Report(facts, *out, *subject, env, log); err != nil {
		log.Error("report device facts", "err", err)
		os.Exit(1)
	}
}

// Report writes facts to out and publishes them on subject. A failure to
// publish is an error so the nucleus records the component as ERRORED and
// retries it.
func Report(f Facts, out, subject string, env component.Env, log *slog.Logger) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode facts: %w", err)
	}
	if err := writeFileAtomic(out, append(data, '\n')); err != nil {
		return err
	}
	log.Info("device facts", "file", out, "hostname", f.Hostname, "kernel", f.Kernel, "cpus", f.CPUs,
		"memTotalBytes", f.MemTotalBytes, "uptimeSeconds", f.UptimeSeconds, "unreadable", f.Errors)
	if subject == "" {
		return nil
	}
	nc, err := env.Connect(log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.Publish(subject, data); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	// Flush is the broker's acknowledgement that it has the message (and,
	// with permissions, that publishing there is allowed).
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	if err := nc.LastError(); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	log.Info("published", "subject", subject)
	return nil
}

// writeFileAtomic replaces path with data so a reader never sees half a
// file, even if the device loses power mid-write.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
