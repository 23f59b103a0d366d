package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

const (
	// mqttPublishers is the fan-in of the MQTT case: a handful of sensors
	// feeding one consumer, the common shape on a device.
	mqttPublishers = 4
	// payloadSize is a typical sensor reading (a small JSON object).
	payloadSize = 128
	// publishWindow bounds each publisher's unfinished publishes, as a real
	// device client does: at QoS1 64 unacknowledged messages keep a loopback
	// connection busy (an ack round trip is tens of µs) without letting one
	// publisher queue its whole run inside the client.
	publishWindow = 64
	// drainIdle is how long the subscriber may receive nothing, once every
	// publisher is done, before the rest counts as lost: far above any
	// delivery delay on loopback.
	drainIdle = 2 * time.Second
	// loadTimeout caps one load run whatever happens.
	loadTimeout = 2 * time.Minute
	// clientTimeout bounds connects, subscribes and each publish token.
	clientTimeout = 10 * time.Second
)

// loadResult is one publishers → subscriber run through one broker.
type loadResult struct {
	sent       int           // publishes the client completed (QoS1: acknowledged by the broker)
	received   int           // messages the subscriber got
	elapsed    time.Duration // first publish → last message received
	publishing time.Duration // first publish → last publish completed (≪ elapsed: delivery to the subscriber is the bottleneck)
	brokerCPU  time.Duration // broker process CPU over the run
	clientCPU  time.Duration // this process's CPU over the run (all clients)
}

func (r loadResult) rate() float64 { return float64(r.received) / r.elapsed.Seconds() }
func (r loadResult) lost() int     { return r.sent - r.received }

// cpuPerMsg returns broker and client CPU per received message in µs.
func (r loadResult) cpuPerMsg() (broker, client float64) {
	n := float64(max(r.received, 1))
	return float64(r.brokerCPU.Microseconds()) / n, float64(r.clientCPU.Microseconds()) / n
}

// runCounter makes client IDs and topics unique across runs against a broker
// that lives through many of them.
var runCounter atomic.Int64

// mqttLoad runs publishers × perPublisher messages of payloadSize bytes at
// qos through the MQTT broker at addr to one subscriber subscribed at the
// same qos. brokerPID is read for CPU time.
func mqttLoad(addr string, brokerPID int, qos byte, publishers, perPublisher int) (loadResult, error) {
	id := fmt.Sprintf("perf-%d-%d", time.Now().UnixNano()%1e6, runCounter.Add(1))
	topic := "perf/" + id
	total := int64(publishers * perPublisher)

	var received, lastNanos atomic.Int64
	all := make(chan struct{})
	sub, err := connectMQTT(addr, id+"-sub")
	if err != nil {
		return loadResult{}, err
	}
	defer sub.Disconnect(0)
	t := sub.Subscribe(topic, qos, func(mqtt.Client, mqtt.Message) {
		lastNanos.Store(time.Now().UnixNano())
		if received.Add(1) == total {
			close(all)
		}
	})
	if err := waitToken(t, "subscribe "+topic); err != nil {
		return loadResult{}, err
	}

	pubs := make([]mqtt.Client, publishers)
	for i := range pubs {
		if pubs[i], err = connectMQTT(addr, fmt.Sprintf("%s-pub%d", id, i)); err != nil {
			return loadResult{}, err
		}
		defer pubs[i].Disconnect(0)
	}
	payload := make([]byte, payloadSize)
	_, _ = rand.Read(payload)

	cpu0, err := cpuTime(brokerPID)
	if err != nil {
		return loadResult{}, err
	}
	self0 := selfCPU()
	start := time.Now()

	var (
		wg   sync.WaitGroup
		sent atomic.Int64
		errs = make([]error, publishers)
	)
	for i, c := range pubs {
		wg.Go(func() {
			n, err := publish(c, topic, qos, perPublisher, payload)
			sent.Add(int64(n))
			errs[i] = err
		})
	}
	wg.Wait()
	pubDone := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return loadResult{}, err
	}
	if err := waitDrain(all, &lastNanos, start); err != nil {
		return loadResult{}, err
	}

	res := loadResult{sent: int(sent.Load()), received: int(received.Load()), clientCPU: selfCPU() - self0, publishing: pubDone}
	cpu1, err := cpuTime(brokerPID)
	if err != nil {
		return loadResult{}, err
	}
	res.brokerCPU = cpu1 - cpu0
	if res.received == 0 {
		return res, fmt.Errorf("the subscriber on %s received nothing of %d messages", topic, res.sent)
	}
	res.elapsed = time.Unix(0, lastNanos.Load()).Sub(start)
	return res, nil
}

// waitDrain waits until all is closed (every message arrived) or nothing has
// arrived for drainIdle, bounded by loadTimeout from start.
func waitDrain(all <-chan struct{}, lastNanos *atomic.Int64, start time.Time) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	idleSince := time.Now()
	for {
		select {
		case <-all:
			return nil
		case now := <-tick.C:
			if last := time.Unix(0, lastNanos.Load()); last.After(idleSince) {
				idleSince = last
			}
			if now.Sub(idleSince) > drainIdle {
				return nil // the rest is lost
			}
			if now.Sub(start) > loadTimeout {
				return fmt.Errorf("messages still arriving %s after the first publish", loadTimeout)
			}
		}
	}
}

// publish sends n messages keeping at most publishWindow unfinished, and
// returns how many completed without error.
func publish(c mqtt.Client, topic string, qos byte, n int, payload []byte) (int, error) {
	window := make([]mqtt.Token, publishWindow)
	sent := 0
	finish := func(t mqtt.Token) error {
		if t == nil {
			return nil
		}
		if err := waitToken(t, "publish to "+topic); err != nil {
			return err
		}
		sent++
		return nil
	}
	for i := range n {
		slot := i % publishWindow
		if err := finish(window[slot]); err != nil {
			return sent, err
		}
		window[slot] = c.Publish(topic, qos, false, payload)
	}
	for i := range publishWindow {
		if err := finish(window[(n+i)%publishWindow]); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func connectMQTT(addr, clientID string) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(clientTimeout).
		SetKeepAlive(time.Minute). // no pings inside a run
		SetCustomOpenConnectionFn(dialBuffered)
	c := mqtt.NewClient(o)
	if err := waitToken(c.Connect(), "connect "+clientID+" to "+addr); err != nil {
		return nil, err
	}
	return c, nil
}

func waitToken(t mqtt.Token, what string) error {
	if !t.WaitTimeout(clientTimeout) {
		return fmt.Errorf("%s: no answer within %s", what, clientTimeout)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// readBuffer is the receive buffer put under every paho connection. paho
// reads each packet straight from the socket (a read for the fixed header,
// one per length byte, one for the body), and on a VM where a read syscall
// costs several µs that, not the broker, bounds the subscriber. 64 KiB holds
// hundreds of 128-byte publishes, so one read serves many. Both brokers get
// the same client.
const readBuffer = 64 << 10

// bufferedConn is a net.Conn whose reads go through a bufio.Reader.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func dialBuffered(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", uri.Host, o.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	return bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}, nil
}
