package broker

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewValidatesOptions(t *testing.T) {
	dir := t.TempDir()
	cert, key, _, _ := selfSigned(t, dir, "server")

	tests := []struct {
		name    string
		change  func(o *Options)
		wantIs  error  // sentinel the error must match; nil = New succeeds
		wantMsg string // substring of the message
	}{
		{name: "loopback defaults need no TLS", change: func(o *Options) {}},
		{name: "localhost counts as loopback", change: func(o *Options) { o.NATSListen = "localhost:-1" }},
		{name: "any 127/8 address counts as loopback", change: func(o *Options) { o.MQTTListen = "127.0.0.2:0" }},
		{name: "ipv6 loopback counts as loopback", change: func(o *Options) { o.NATSListen = "[::1]:-1" }},
		{name: "mqtt may be disabled", change: func(o *Options) { o.MQTTListen = "" }},
		{
			name:    "mqtt on all interfaces without TLS is refused",
			change:  func(o *Options) { o.MQTTListen = "0.0.0.0:1883"; o.AnonymousUser = "" },
			wantIs:  ErrInsecureListener,
			wantMsg: "broker: mqtt listener 0.0.0.0:1883 is not on loopback: set TLSCert and TLSKey (or listen on 127.0.0.1)",
		},
		{
			name:    "an empty host is not loopback",
			change:  func(o *Options) { o.NATSListen = ":4222" },
			wantIs:  ErrInsecureListener,
			wantMsg: "nats listener :4222 is not on loopback",
		},
		{
			name:    "ipv6 any is not loopback",
			change:  func(o *Options) { o.NATSListen = "[::]:4222" },
			wantIs:  ErrInsecureListener,
			wantMsg: "nats listener [::]:4222 is not on loopback",
		},
		{
			name: "non-loopback with TLS but anonymous access is refused",
			change: func(o *Options) {
				o.MQTTListen = "0.0.0.0:1883"
				o.TLSCert, o.TLSKey = cert, key
				o.AnonymousUser = "sensor"
			},
			wantIs:  ErrInsecureListener,
			wantMsg: `mqtt listener 0.0.0.0:1883 is not on loopback: disable anonymous access (AnonymousUser is "sensor") (or listen on 127.0.0.1)`,
		},
		{
			name: "non-loopback with neither TLS nor auth names both fixes",
			change: func(o *Options) {
				o.MQTTListen = "0.0.0.0:1883"
				o.AnonymousUser = "sensor"
			},
			wantIs:  ErrInsecureListener,
			wantMsg: `set TLSCert and TLSKey and disable anonymous access`,
		},
		{
			name: "non-loopback with TLS and users is accepted",
			change: func(o *Options) {
				o.NATSListen = "0.0.0.0:4222"
				o.MQTTListen = "0.0.0.0:8883"
				o.TLSCert, o.TLSKey, o.TLSClientCA = cert, key, cert
				o.AnonymousUser = ""
			},
		},
		{
			name:    "monitor must be on loopback",
			change:  func(o *Options) { o.MonitorListen = "0.0.0.0:8222" },
			wantIs:  ErrInsecureListener,
			wantMsg: "monitor listener 0.0.0.0:8222 is not on loopback",
		},
		{
			name:    "store folder is required",
			change:  func(o *Options) { o.StoreDir = "" },
			wantIs:  ErrInvalidOptions,
			wantMsg: "StoreDir is empty",
		},
		{
			name:    "listen address needs a port",
			change:  func(o *Options) { o.NATSListen = "127.0.0.1" },
			wantIs:  ErrInvalidOptions,
			wantMsg: `NATSListen "127.0.0.1" is not host:port`,
		},
		{
			name:    "listen port must be a number in range",
			change:  func(o *Options) { o.MQTTListen = "127.0.0.1:99999" },
			wantIs:  ErrInvalidOptions,
			wantMsg: `MQTTListen "127.0.0.1:99999" has a bad port`,
		},
		{
			name:    "anonymous user must be configured",
			change:  func(o *Options) { o.AnonymousUser = "ghost" },
			wantIs:  ErrUnknownUser,
			wantMsg: `AnonymousUser "ghost" is not in Users`,
		},
		{
			name:    "users need a password",
			change:  func(o *Options) { o.Users = append(o.Users, User{Name: "nopass"}) },
			wantIs:  ErrInvalidOptions,
			wantMsg: `user "nopass" has no Password`,
		},
		{
			name:    "user names are unique",
			change:  func(o *Options) { o.Users = append(o.Users, User{Name: "sensor", Password: "x"}) },
			wantIs:  ErrInvalidOptions,
			wantMsg: `user "sensor" is listed twice`,
		},
		{
			name:    "user names have no question mark",
			change:  func(o *Options) { o.Users = append(o.Users, User{Name: "sensor?x", Password: "x"}) },
			wantIs:  ErrInvalidOptions,
			wantMsg: `user name "sensor?x" contains "?"`,
		},
		{
			name:    "the anonymous identity is reserved",
			change:  func(o *Options) { o.Users = append(o.Users, User{Name: AnonymousIdentity, Password: "x"}) },
			wantIs:  ErrInvalidOptions,
			wantMsg: "is reserved (anonymous clients",
		},
		{
			name: "permission subjects must be valid",
			change: func(o *Options) {
				o.Users = append(o.Users, User{Name: "bad", Password: "x", Permissions: Permissions{PublishDeny: []string{"a b"}}})
			},
			wantIs:  ErrInvalidOptions,
			wantMsg: `Permissions.PublishDeny`,
		},
		{
			name:    "TLS cert and key go together",
			change:  func(o *Options) { o.TLSCert = cert },
			wantIs:  ErrInvalidOptions,
			wantMsg: "TLSCert and TLSKey must be set together",
		},
		{
			name:    "unreadable TLS files are named",
			change:  func(o *Options) { o.TLSCert, o.TLSKey = filepath.Join(dir, "missing.crt"), key },
			wantIs:  ErrInvalidOptions,
			wantMsg: "missing.crt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.AnonymousUser = "sensor"
			tt.change(&o)
			b, err := New(o)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				b.Shutdown() // never started: releases nothing but must not hang
				return
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("New error = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("New error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}
