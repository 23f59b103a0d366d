package iotcore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// conn is one MQTT connection to IoT Core. Its fields other than s,
// clientID and primary are guarded by s.mu.
type conn struct {
	s        *Service
	clientID string
	primary  bool // carries the publishes

	// filters are the topic filters of this connection; true once IoT
	// Core granted them in the current session.
	filters map[string]bool
	client  mqtt.Client // nil while not connected
	since   time.Time
}

// run connects, serves the connection until it is lost, and connects
// again after a backoff, until ctx ends. A new paho client per attempt:
// with cleanSession=false paho keeps the tokens of unacknowledged
// publishes across a loss and would send them again itself, while the
// spool is what resends here.
func (c *conn) run(ctx context.Context) {
	s := c.s
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff(attempt, s.opts.MinBackoff, s.opts.MaxBackoff)):
			case <-ctx.Done():
				return
			}
		}
		lost := make(chan error, 1)
		client := mqtt.NewClient(c.clientOptions(lost))
		tok := client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			client.Disconnect(0)
			return
		}
		if err := tok.Error(); err != nil {
			s.connErrors.Add(1)
			err = fmt.Errorf("connect to %s as %s: %w%s", s.opts.address(), c.clientID, err, tlsHint(err))
			s.setError(err)
			s.log.Warn("IoT Core connection failed; retrying", "clientId", c.clientID, "attempt", attempt+1, "error", err)
			continue
		}
		s.connects.Add(1)
		sessionPresent := tok.(*mqtt.ConnectToken).SessionPresent()
		connectedAt := time.Now()
		err := c.serve(ctx, client, sessionPresent, lost)
		if ctx.Err() != nil {
			client.Disconnect(250) // let PUBACKs of what is in flight arrive
			c.down(nil)
			return
		}
		client.Disconnect(0)
		c.down(err)
		if time.Since(connectedAt) >= stableConnection {
			attempt = 0 // the next attempt waits MinBackoff (with jitter)
		}
	}
}

// stableConnection is how long a connection must last for the backoff to
// start again from MinBackoff. IoT Core closes a connection at once when
// the device breaks its policy (a publish on a topic it may not use) or
// another client takes the same client id; such connections count as
// failed attempts, so the backoff keeps growing instead of reconnecting
// every second.
const stableConnection = 10 * time.Second

// serve runs one connected session until it is lost or ctx ends.
func (c *conn) serve(ctx context.Context, client mqtt.Client, sessionPresent bool, lost <-chan error) error {
	s := c.s
	s.mu.Lock()
	if !sessionPresent {
		for f := range c.filters {
			c.filters[f] = false // IoT Core forgot them
		}
	}
	var pending []string
	for f, granted := range c.filters {
		if !granted {
			pending = append(pending, f)
		}
	}
	c.client, c.since = client, time.Now()
	s.mu.Unlock()
	s.log.Info("connected to AWS IoT Core", "clientId", c.clientID, "endpoint", s.opts.address(), "sessionPresent", sessionPresent, "resubscribing", len(pending))
	if c.primary {
		s.announce()
	}
	slices.Sort(pending)
	if refused, err := c.subscribe(ctx, client, pending); err != nil {
		return err
	} else if len(refused) > 0 {
		// Kept in the table (a policy change may allow them at the next
		// session); the connection serves the others meanwhile.
		s.log.Warn("IoT Core refused subscriptions", "clientId", c.clientID, "filters", refused)
	}
	sctx, cancel := context.WithCancel(ctx)
	sent := make(chan error, 1)
	var wg sync.WaitGroup
	if c.primary {
		wg.Add(1)
		go func() { defer wg.Done(); sent <- s.send(sctx, client) }()
	}
	defer wg.Wait() // after cancel, which the sender ends on
	defer cancel()
	select {
	case err := <-lost:
		return err
	case err := <-sent:
		return err
	case <-ctx.Done():
		return nil
	}
}

// down records that the connection is gone.
func (c *conn) down(err error) {
	s := c.s
	s.mu.Lock()
	c.client, c.since = nil, time.Time{}
	s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("connection to %s as %s lost: %w%s", s.opts.address(), c.clientID, err, tlsHint(err))
		s.setError(err)
		s.log.Warn("IoT Core connection lost; reconnecting", "clientId", c.clientID, "error", err)
	}
	if c.primary {
		s.announce()
	}
}

func (c *conn) clientOptions(lost chan<- error) *mqtt.ClientOptions {
	o := c.s.opts
	scheme := "tls://"
	return mqtt.NewClientOptions().
		AddBroker(scheme + o.address()).
		SetClientID(c.clientID).
		SetTLSConfig(c.s.tls).
		SetProtocolVersion(4). // MQTT 3.1.1
		SetCleanSession(false).
		SetAutoReconnect(false). // run reconnects, with jitter
		SetConnectRetry(false).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(o.PingTimeout).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.ConnectTimeout).
		SetOrderMatters(true). // handlers see a topic's messages in order
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.s.dispatch(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained()})
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
}

// subscribe sends SUBSCRIBE packets for filters, at most
// MaxFiltersPerSubscribe per packet, and marks the granted ones. It
// returns the filters IoT Core refused (recorded as the last error), and
// an error when the packets could not be sent.
func (c *conn) subscribe(ctx context.Context, client mqtt.Client, filters []string) (refused []string, err error) {
	s := c.s
	for chunk := range slices.Chunk(filters, MaxFiltersPerSubscribe) {
		req := map[string]byte{}
		s.mu.Lock()
		for _, f := range chunk {
			if sub := s.subs[f]; sub != nil {
				req[f] = sub.qos
			}
		}
		s.mu.Unlock()
		if len(req) == 0 {
			continue
		}
		tok := client.SubscribeMultiple(req, nil)
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return refused, ctx.Err()
		}
		if err := tok.Error(); err != nil {
			return refused, fmt.Errorf("subscribe to %q: %w", chunk, err)
		}
		s.mu.Lock()
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code == 0x80 {
				refused = append(refused, f)
			} else if _, ok := c.filters[f]; ok {
				c.filters[f] = true
			}
		}
		s.mu.Unlock()
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		s.setError(fmt.Errorf("IoT Core refused the subscription to %q: the device's IoT policy must allow iot:Subscribe on topicfilter/<filter> and iot:Receive on topic/<topic>", refused))
	}
	return refused, nil
}

// backoff is the wait before connection attempt n (n ≥ 1): min·2^(n-1)
// capped at max, then a random point in its upper half ("equal jitter"),
// so a fleet that lost the endpoint at once does not return at once.
func backoff(n int, min, max time.Duration) time.Duration {
	d := max
	if n < 32 {
		if e := min << (n - 1); e > 0 && e < max {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1)
}

// tlsHint says which file of the device configuration a TLS failure points
// at. paho keeps only the text of the network error, so the hint is found
// in crypto/tls's and crypto/x509's messages.
func tlsHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "remote error: tls:") && (strings.Contains(msg, "certificate") || strings.Contains(msg, "access denied")):
		return ": the endpoint refused the device certificate: system.certificateFilePath must be the thing's certificate, " +
			"registered and ACTIVE in this account and region, with privateKeyPath its key (`sward provision` writes both)"
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return ": the endpoint's certificate is not signed by a CA in system.rootCaPath: use AmazonRootCA1.pem for AWS IoT Core " +
			"(or the CA of the endpoint you run), and check that iotDataEndpoint is the account's ATS endpoint"
	case strings.Contains(msg, "x509: certificate is valid for"):
		return ": iotDataEndpoint does not match the endpoint's certificate: use the account's data endpoint (aws iot describe-endpoint --endpoint-type iot:Data-ATS)"
	case strings.Contains(msg, "x509: certificate has expired or is not yet valid"):
		return ": a certificate is outside its validity: check the device's clock (NTP) and system.certificateFilePath's dates"
	}
	return ""
}
