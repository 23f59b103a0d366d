package iotcore

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
)

// front is an endpoint in the manner of IoT Core on 8883 or 443, in front
// of the embedded broker's plain MQTT listener: it requires a client
// certificate of the PKI, with RequireALPN the protocol x-amzn-mqtt-ca,
// reads every MQTT packet the device sends, and closes the connection
// when Close says so (IoT Core disconnects a device that publishes where
// its policy does not allow).
type front struct {
	Port int
	// Offered and Refused count handshakes with and without ALPN.
	Offered, Refused atomic.Int32

	mu         sync.Mutex
	subscribes [][]string // the filters of each SUBSCRIBE packet
}

type frontOptions struct {
	RequireALPN bool
	// Close, when set, is asked about every PUBLISH from the device.
	Close func(topic string) bool
	// Swallow, when set, is asked about every SUBSCRIBE: a swallowed one
	// never reaches the broker, so it is never answered.
	Swallow func(filters []string) bool
}

func startFront(t *testing.T, pki *testutil.PKI, upstream string, o frontOptions) *front {
	t.Helper()
	f := &front{}
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cas,
		NextProtos: []string{ALPNProtocol},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if slices.Contains(hello.SupportedProtos, ALPNProtocol) {
				f.Offered.Add(1)
				return nil, nil
			}
			f.Refused.Add(1)
			if o.RequireALPN {
				return nil, errors.New("no ALPN x-amzn-mqtt-ca") // IoT Core on 443 closes such handshakes
			}
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Port = ln.Addr().(*net.TCPAddr).Port
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); f.serve(c, upstream, o) }()
		}
	}()
	return f
}

// serve forwards one device connection packet by packet.
func (f *front) serve(c net.Conn, upstream string, o frontOptions) {
	defer c.Close()
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up); c.Close() }()
	r := bufio.NewReader(c)
	for {
		head, body, err := readPacket(r)
		if err != nil {
			return
		}
		switch head >> 4 {
		case 3: // PUBLISH: topic length, topic, …
			if o.Close != nil && len(body) >= 2 {
				n := int(binary.BigEndian.Uint16(body))
				if len(body) >= 2+n && o.Close(string(body[2:2+n])) {
					return
				}
			}
		case 8: // SUBSCRIBE: packet id, then (length, filter, QoS)…
			var filters []string
			for rest := body[2:]; len(rest) >= 2; {
				n := int(binary.BigEndian.Uint16(rest))
				filters = append(filters, string(rest[2:2+n]))
				rest = rest[2+n+1:]
			}
			f.mu.Lock()
			f.subscribes = append(f.subscribes, filters)
			f.mu.Unlock()
			if o.Swallow != nil && o.Swallow(filters) {
				continue
			}
		}
		packet := append([]byte{head}, remainingLength(len(body))...)
		if _, err := up.Write(append(packet, body...)); err != nil {
			return
		}
	}
}

// subscribePackets returns the filters of each SUBSCRIBE seen so far.
func (f *front) subscribePackets() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.subscribes)
}

// readPacket reads one MQTT control packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	head, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return head, body, err
}

// remainingLength encodes n as MQTT's variable-length integer.
func remainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
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
