package iotcore

import (
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestBadOptionsAreRefusedNamingTheSetting(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	_, _, js := startJetStream(t, "")
	good := func() Options {
		return Options{ThingName: thing, Endpoint: "127.0.0.1", CertFile: pki.ClientCert, KeyFile: pki.ClientKey, RootCAFile: pki.CAFile, JetStream: js}
	}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"bad thing name", func(o *Options) { o.ThingName = "a b" }, "thing name"},
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, "iotDataEndpoint"},
		{"bad port", func(o *Options) { o.Port = 70000 }, "mqtt.port"},
		{"no certificate", func(o *Options) { o.CertFile = "" }, "certificateFilePath"},
		{"no key", func(o *Options) { o.KeyFile = "" }, "privateKeyPath"},
		{"no root CA", func(o *Options) { o.RootCAFile = "" }, "rootCaPath"},
		{"root CA not PEM", func(o *Options) { o.RootCAFile = o.KeyFile }, "no PEM certificate"},
		{"key of another certificate", func(o *Options) { o.KeyFile = pki.ServerKey }, "device certificate"},
		{"no JetStream", func(o *Options) { o.JetStream = nil }, "JetStream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.change(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPort443OffersALPNAndPort8883DoesNot(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	for port, want := range map[int]bool{443: true, 8883: false} {
		o := Options{Endpoint: "a1b2.iot.eu-west-1.amazonaws.com", Port: port, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, RootCAFile: pki.CAFile}
		cfg, err := o.tlsConfig()
		if err != nil {
			t.Fatal(err)
		}
		got := len(cfg.NextProtos) == 1 && cfg.NextProtos[0] == ALPNProtocol
		if got != want || cfg.ServerName != o.Endpoint || len(cfg.Certificates) != 1 {
			t.Errorf("port %d: NextProtos %q ServerName %q, want ALPN %v and the endpoint's name", port, cfg.NextProtos, cfg.ServerName, want)
		}
	}
}

func TestBackoffGrowsExponentiallyWithJitterUpToItsCap(t *testing.T) {
	minB, maxB := 100*time.Millisecond, 2*time.Second
	for n, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 6: maxB, 60: maxB} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := backoff(n, minB, maxB)
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, d, ceil/2, ceil)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) gave one value 50 times: no jitter", n)
		}
	}
}

func TestTopicFiltersMatchAsMQTTSays(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$aws/things/x/shadow/get", false},
		{"+/things/#", "$aws/things/x", false},
		{"$aws/things/+/shadow/#", "$aws/things/x/shadow/get/accepted", true},
		{"a/+/c", "a//c", true},
	} {
		if got := matches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}
