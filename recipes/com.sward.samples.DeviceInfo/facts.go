package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Facts describe the device. A fact that could not be read is left at its
// zero value and explained in Errors, so one missing file does not hide the
// others.
type Facts struct {
	ThingName         string    `json:"thingName,omitempty"`
	Hostname          string    `json:"hostname"`
	OS                string    `json:"os"`
	Arch              string    `json:"arch"`
	Distro            string    `json:"distro,omitempty"` // PRETTY_NAME of os-release
	Kernel            string    `json:"kernel,omitempty"`
	CPUs              int       `json:"cpus"`
	MemTotalBytes     uint64    `json:"memTotalBytes,omitempty"`
	MemAvailableBytes uint64    `json:"memAvailableBytes,omitempty"`
	UptimeSeconds     float64   `json:"uptimeSeconds,omitempty"`
	CollectedAt       time.Time `json:"collectedAt"`
	Errors            []string  `json:"errors,omitempty"`
}

// Sources are where facts are read from; tests point them at fixtures.
type Sources struct {
	Proc      string // procfs mount, normally /proc
	OSRelease string // normally /etc/os-release
	Hostname  func() (string, error)
}

// Collect gathers the facts available from src.
func Collect(src Sources, thingName string, now time.Time) Facts {
	f := Facts{ThingName: thingName, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), CollectedAt: now}
	fail := func(err error) { f.Errors = append(f.Errors, err.Error()) }
	var err error
	if f.Hostname, err = src.Hostname(); err != nil {
		fail(fmt.Errorf("hostname: %w", err))
	}
	if data, err := os.ReadFile(filepath.Join(src.Proc, "sys/kernel/osrelease")); err != nil {
		fail(fmt.Errorf("kernel: %w", err))
	} else {
		f.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(src.Proc, "meminfo")); err != nil {
		fail(fmt.Errorf("memory: %w", err))
	} else if f.MemTotalBytes, f.MemAvailableBytes, err = ParseMeminfo(data); err != nil {
		fail(fmt.Errorf("memory: %s: %w", filepath.Join(src.Proc, "meminfo"), err))
	}
	if data, err := os.ReadFile(filepath.Join(src.Proc, "uptime")); err != nil {
		fail(fmt.Errorf("uptime: %w", err))
	} else if f.UptimeSeconds, err = ParseUptime(data); err != nil {
		fail(fmt.Errorf("uptime: %s: %w", filepath.Join(src.Proc, "uptime"), err))
	}
	if data, err := os.ReadFile(src.OSRelease); err != nil {
		fail(fmt.Errorf("distro: %w", err))
	} else {
		f.Distro = ParseOSRelease(data)["PRETTY_NAME"]
	}
	return f
}

// ParseMeminfo returns MemTotal and MemAvailable of /proc/meminfo in bytes.
// MemAvailable (Linux 3.14+) is what can be allocated without swapping;
// a kernel without it yields 0.
func ParseMeminfo(data []byte) (total, available uint64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: %q is not \"<number> kB\"", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "MemTotal" {
			total = kb * 1024
		} else {
			available = kb * 1024
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("no MemTotal line")
	}
	return total, available, nil
}

// ParseUptime returns the first number of /proc/uptime: seconds since boot.
func ParseUptime(data []byte) (float64, error) {
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("empty")
	}
	s, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || s < 0 {
		return 0, fmt.Errorf("%q is not a number of seconds", fields[0])
	}
	return s, nil
}

// ParseOSRelease returns the KEY=value pairs of an os-release file, with
// shell quotes removed.
func ParseOSRelease(data []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		if uq, err := strconv.Unquote(val); err == nil {
			val = uq
		} else {
			val = strings.Trim(val, `'`)
		}
		m[key] = val
	}
	return m
}
