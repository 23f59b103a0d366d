package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

const (
	// idleConns is how many idle MQTT clients the mqttconn figure connects:
	// a gateway's worth of sensors, and enough that the per-connection cost
	// stands well above the few hundred kB a heap moves between readings.
	// It is also the broker's default session limit (MQTT.MaxSessions).
	idleConns = 1000
	// connectAtOnce bounds the connects in flight, so that the broker's
	// accept loop, not the harness, sets the pace and no connect times out
	// on a loaded machine.
	connectAtOnce = 32
	// idleKeepAlive is the clients' MQTT keep-alive: longer than a reading,
	// so no PINGREQ wakes a connection while it is measured.
	idleKeepAlive = 5 * time.Minute
)

// measureMQTTConns measures what an idle MQTT client connection costs the
// broker: PSS settled with none, then with idleConns clean-session clients
// that subscribe to nothing, for sward and (when installed) mosquitto, each
// a new process per run.
func measureMQTTConns(cfg config, work string, rep *report) error {
	label := fmt.Sprintf("PSS per idle MQTT connection (%d clean sessions, no subscriptions)", idleConns)
	perConn := rep.add("mqtt_idle_conn_sward_pss_kb", label+", sward", "KB", atMost(16))
	total := rep.add("mqtt_idle_conns_sward_pss_mb", fmt.Sprintf("sward PSS with %d idle MQTT connections", idleConns), "MB", goal{})
	anon := rep.add("mqtt_idle_conn_sward_pss_anon_kb", label+", sward, anonymous part (heap, stacks)", "KB", goal{})
	var mosq *figure
	mosqBin, err := findMosquitto()
	if err != nil {
		rep.note("mqttconn: mosquitto not measured: %v", err)
	} else {
		mosq = rep.add("mqtt_idle_conn_mosquitto_pss_kb", label+", mosquitto", "KB", goal{})
	}
	for i := range cfg.runs {
		n, err := startNucleus(cfg.sward, work, "")
		if err != nil {
			return err
		}
		c, err := n.dial(startTimeout)
		if err != nil {
			return errors.Join(err, n.stop())
		}
		c.Close()
		before, after, err := idleConnsPSS(n.process, n.mqttAddr)
		if err := errors.Join(err, n.stop()); err != nil {
			return fmt.Errorf("sward: %w", err)
		}
		perKB := float64(after.pss-before.pss) / 1024 / idleConns
		anonKB := float64(after.pssAnon-before.pssAnon) / 1024 / idleConns
		progress("  mqttconn run %d sward: PSS %.2f → %.2f MB (anonymous %.2f → %.2f), %.1f KB per connection",
			i+1, mb(before.pss), mb(after.pss), mb(before.pssAnon), mb(after.pssAnon), perKB)
		perConn.samples = append(perConn.samples, perKB)
		total.samples = append(total.samples, mb(after.pss))
		anon.samples = append(anon.samples, anonKB)

		if mosq == nil {
			continue
		}
		m, err := startMosquitto(mosqBin, work)
		if err != nil {
			return err
		}
		before, after, err = idleConnsPSS(m.process, m.addr)
		if err := errors.Join(err, m.stop()); err != nil {
			return fmt.Errorf("mosquitto: %w", err)
		}
		perKB = float64(after.pss-before.pss) / 1024 / idleConns
		progress("  mqttconn run %d mosquitto: PSS %.2f → %.2f MB, %.1f KB per connection", i+1, mb(before.pss), mb(after.pss), perKB)
		mosq.samples = append(mosq.samples, perKB)
	}
	return nil
}

// idleConnsPSS reads p's memory settled, then connects idleConns clients to
// the MQTT listener at addr and reads it settled again. One client connects
// and disconnects first, so that the code and the one-off state of the
// first MQTT connection are in both readings.
func idleConnsPSS(p *process, addr string) (before, after memory, err error) {
	warm, err := connectIdle(addr, fmt.Sprintf("perf-idle-%d-warm", runCounter.Add(1)))
	if err != nil {
		return before, after, err
	}
	warm.Disconnect(0)
	time.Sleep(idleSettle)
	if err := p.exited(); err != nil {
		return before, after, err
	}
	if before, err = readMemory(p.pid()); err != nil {
		return before, after, err
	}

	prefix := fmt.Sprintf("perf-idle-%d", runCounter.Add(1))
	clients := make([]mqtt.Client, idleConns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Disconnect(0)
			}
		}
	}()
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, connectAtOnce)
		errs = make([]error, idleConns)
	)
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			clients[i], errs[i] = connectIdle(addr, fmt.Sprintf("%s-%d", prefix, i))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return before, after, err
	}
	time.Sleep(idleSettle)
	if err := p.exited(); err != nil {
		return before, after, err
	}
	after, err = readMemory(p.pid())
	return before, after, err
}

// connectIdle connects one clean-session client that will sit idle, without
// the load clients' read buffer: idle, it reads nothing.
func connectIdle(addr, clientID string) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(clientTimeout).
		SetKeepAlive(idleKeepAlive)
	c := mqtt.NewClient(o)
	if err := waitToken(c.Connect(), "connect "+clientID+" to "+addr); err != nil {
		return nil, err
	}
	return c, nil
}
