package iotcore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// With ALPN (port 443 on AWS) the device offers x-amzn-mqtt-ca, and an
// endpoint that, like IoT Core on 443, refuses handshakes without it
// lets it connect and publish. The endpoint is a TLS front that requires
// a client certificate and the protocol, in front of the embedded
// broker's plain MQTT listener.
// With ALPN (port 443 on AWS) the device offers x-amzn-mqtt-ca, and an
// endpoint that, like IoT Core on 443, refuses handshakes without it
// lets it connect and publish. The endpoint is a TLS front that requires
// a client certificate and the protocol, in front of the embedded
// broker's plain MQTT listener.
// tlsFront is an endpoint in the manner of IoT Core in front of the
// embedded broker's plain MQTT listener: it requires a client certificate
// of pki, with requireALPN the protocol x-amzn-mqtt-ca, and closes a
// connection as soon as the client sends closeOn (IoT Core disconnects a
// device that publishes where its policy does not allow). It returns its
// port and the number of handshakes with and without ALPN.
func tlsFront(t *testing.T, pki *testutil.PKI, upstream string, requireALPN bool, closeOn string) (port int, offered, refused *atomic.Int32) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(pki.CAFile)
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(caPEM)
	offered, refused = &atomic.Int32{}, &atomic.Int32{}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cas,
		NextProtos: []string{ALPNProtocol},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if !slices.Contains(hello.SupportedProtos, ALPNProtocol) {
				refused.Add(1)
				if requireALPN {
					return nil, io.ErrUnexpectedEOF // IoT Core on 443 closes such handshakes
				}
				return nil, nil
			}
			offered.Add(1)
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(c, up); c.Close() }()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 && closeOn != "" && bytes.Contains(buf[:n], []byte(closeOn)) {
						return
					}
					if n > 0 {
						if _, err := up.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, offered, refused
}

// plainBroker is the embedded broker with an MQTT listener that takes
// anonymous clients.
func plainBroker(t *testing.T) *broker.Broker {
	t.Helper()
	o := broker.DefaultOptions()
	o.NATSListen, o.MQTTListen, o.StoreDir, o.Logger = "127.0.0.1:-1", "127.0.0.1:-1", t.TempDir(), testlog.New(t)
	o.Users = []broker.User{{Name: "any", Password: password}}
	o.AnonymousUser = "any"
	b, err := broker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	testutil.RunBroker(t, b)
	return b
}

func TestWithALPNTheDeviceOffersXAmznMqttCaAndConnects(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	b := plainBroker(t)
	port, offered, refused := tlsFront(t, pki, b.MQTTAddr(), true, "")
	_, _, js := startJetStream(t, "")
	s := start(t, Options{ThingName: thing, Endpoint: "127.0.0.1", Port: port, ALPN: true, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, JetStream: js, Logger: testlog.New(t)})
	waitConnected(t, s, true)
	got := make(chan Message, 1)
	if _, err := s.Subscribe(context.Background(), "sward/"+thing+"/alerts", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), Message{Topic: "sward/" + thing + "/alerts", Payload: []byte("over 443"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if m := testutil.Receive(t, got, "the message through the ALPN endpoint"); string(m.Payload) != "over 443" {
		t.Fatalf("got %q", m.Payload)
	}
	if offered.Load() == 0 || refused.Load() != 0 {
		t.Fatalf("handshakes with ALPN %d, without %d", offered.Load(), refused.Load())
	}

	// The same endpoint refuses a device that does not offer it.
	s2, err := New(Options{ThingName: thing + "-2", Endpoint: "127.0.0.1", Port: port, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		RootCAFile: pki.CAFile, JetStream: js, Spool: spool.Options{Stream: "OTHER_SPOOL"}, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown(context.Background())
	testutil.Until(t, "the handshake without ALPN refused", func() bool { return refused.Load() > 0 })
	if st := s2.State(context.Background()); st.Connected {
		t.Fatalf("connected without ALPN: %+v", st)
	}
}
