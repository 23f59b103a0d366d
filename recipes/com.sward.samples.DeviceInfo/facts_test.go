package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		wantTotal     uint64
		wantAvailable uint64
		wantErr       string
	}{
		{"orange pi 5", "MemTotal:        7862128 kB\nMemFree:          512000 kB\nMemAvailable:    6291456 kB\n",
			7862128 * 1024, 6291456 * 1024, ""},
		{"old kernel without MemAvailable", "MemTotal: 1024 kB\nMemFree: 512 kB\n", 1024 * 1024, 0, ""},
		{"no MemTotal", "MemFree: 512 kB\n", 0, 0, "no MemTotal"},
		{"unit other than kB", "MemTotal: 1024 MB\n", 0, 0, `"<number> kB"`},
		{"not a number", "MemTotal: lots kB\n", 0, 0, "MemTotal"},
		{"empty", "", 0, 0, "no MemTotal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, avail, err := ParseMeminfo([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMeminfo() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || total != tt.wantTotal || avail != tt.wantAvailable {
				t.Fatalf("ParseMeminfo() = %d, %d, %v; want %d, %d", total, avail, err, tt.wantTotal, tt.wantAvailable)
			}
		})
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"350735.47 234388.90\n", 350735.47, false},
		{"12\n", 12, false},
		{"", 0, true},
		{"abc 1", 0, true},
		{"-5 1", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseUptime([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseUptime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	in := "# comment\nNAME=\"Ubuntu\"\nVERSION_ID='22.04'\nID=ubuntu\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n\nBROKEN LINE\n"
	got := ParseOSRelease([]byte(in))
	want := map[string]string{"NAME": "Ubuntu", "VERSION_ID": "22.04", "ID": "ubuntu", "PRETTY_NAME": "Ubuntu 22.04.4 LTS"}
	if len(got) != len(want) {
		t.Fatalf("ParseOSRelease() = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func writeFixture(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCollectReadsEveryFactFromItsSource(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "proc/sys/kernel/osrelease", "6.1.43-rockchip-rk3588\n")
	writeFixture(t, dir, "proc/meminfo", "MemTotal: 2048 kB\nMemAvailable: 1024 kB\n")
	writeFixture(t, dir, "proc/uptime", "42.5 80.0\n")
	writeFixture(t, dir, "os-release", `PRETTY_NAME="Armbian 24.2 bookworm"`+"\n")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	src := Sources{Proc: filepath.Join(dir, "proc"), OSRelease: filepath.Join(dir, "os-release"),
		Hostname: func() (string, error) { return "opi5", nil }}

	got := Collect(src, "thing-1", now)
	want := Facts{ThingName: "thing-1", Hostname: "opi5", OS: runtime.GOOS, Arch: runtime.GOARCH,
		Distro: "Armbian 24.2 bookworm", Kernel: "6.1.43-rockchip-rk3588", CPUs: runtime.NumCPU(),
		MemTotalBytes: 2048 * 1024, MemAvailableBytes: 1024 * 1024, UptimeSeconds: 42.5, CollectedAt: now}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Collect() = %+v\nwant        %+v", got, want)
	}
}

func TestCollectReportsUnreadableFactsAndKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "proc/meminfo", "garbage\n")
	src := Sources{Proc: filepath.Join(dir, "proc"), OSRelease: filepath.Join(dir, "missing"),
		Hostname: func() (string, error) { return "", errors.New("no uts namespace") }}

	got := Collect(src, "", time.Now())
	if got.CPUs != runtime.NumCPU() || got.OS != runtime.GOOS {
		t.Errorf("facts from the runtime are missing: %+v", got)
	}
	for _, prefix := range []string{"hostname:", "kernel:", "memory:", "uptime:", "distro:"} {
		found := false
		for _, e := range got.Errors {
			found = found || strings.HasPrefix(e, prefix)
		}
		if !found {
			t.Errorf("Errors = %q, want one starting with %q", got.Errors, prefix)
		}
	}
}
