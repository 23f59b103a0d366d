package iotcore

import (
	"context"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/spool"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// With ALPN (port 443 on AWS) the device offers x-amzn-mqtt-ca, and an
// endpoint that, like IoT Core on 443, refuses handshakes without it
// lets it connect and publish; the same endpoint refuses a device that
// does not offer it.
func TestWithALPNTheDeviceOffersXAmznMqttCaAndConnects(t *testing.T) {
	pki := testutil.NewPKI(t, thing)
	b := plainBroker(t)
	f := startFront(t, pki, b.MQTTAddr(), frontOptions{RequireALPN: true})
	port := f.Port
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
	if f.Offered.Load() == 0 || f.Refused.Load() != 0 {
		t.Fatalf("handshakes with ALPN %d, without %d", f.Offered.Load(), f.Refused.Load())
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
	testutil.Until(t, "the handshake without ALPN refused", func() bool { return f.Refused.Load() > 0 })
	if st := s2.State(context.Background()); st.Connected {
		t.Fatalf("connected without ALPN: %+v", st)
	}
}
