package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/edge/control"
)

// measureNATS runs the 1 → 1 NATS pub/sub load through sward's NATS
// listener, as the admin user of <root>/admin.json.
func measureNATS(cfg config, work string, rep *report) (err error) {
	n, err := startNucleus(cfg.sward, work, "")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return err
	}
	c.Close()
	cred, err := control.ReadCredential(n.root)
	if err != nil {
		return err
	}
	rate := rep.add("nats_msgs_per_s", "NATS 1→1 128 B, sward: received", "msgs/s", goal{})
	lost := rep.add("nats_lost", fmt.Sprintf("NATS 1→1 128 B, sward: lost (of %d)", cfg.natsMsgs), "msgs", noLoss())
	cpu := rep.add("nats_broker_cpu_us_per_msg", "NATS 1→1 128 B, sward: broker CPU per msg", "µs", goal{})
	admin := []nats.Option{nats.UserInfo(cred.User, cred.Password)}
	for i := range cfg.runs {
		r, err := natsLoad(cred.NATSURL, admin, admin, "perf.nats", n.pid(), cfg.natsMsgs)
		if err != nil {
			return err
		}
		brokerCPU, clientCPU := r.cpuPerMsg()
		progress("  nats run %d: %8.0f msgs/s in %5.2fs, lost %d, broker %.2f µs/msg, clients %.2f µs/msg",
			i+1, r.rate(), r.elapsed.Seconds(), r.lost(), brokerCPU, clientCPU)
		rate.samples = append(rate.samples, r.rate())
		lost.samples = append(lost.samples, float64(r.lost()))
		cpu.samples = append(cpu.samples, brokerCPU)
	}
	return nil
}

// natsLoad publishes count payloadSize-byte messages on one connection
// (pubOpts: its credentials) to a subscriber on another (subOpts), on a
// subject under prefix.
func natsLoad(url string, pubOpts, subOpts []nats.Option, prefix string, brokerPID int, count int) (loadResult, error) {
	id := fmt.Sprintf("perf-%d-%d", time.Now().UnixNano()%1e6, runCounter.Add(1))
	subject := prefix + "." + id
	var asyncErr atomic.Value // the first slow-consumer or protocol error, if any
	connect := func(name string, opts []nats.Option) (*nats.Conn, error) {
		return nats.Connect(url, append([]nats.Option{nats.Name(name),
			nats.Timeout(clientTimeout), nats.NoReconnect(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { asyncErr.CompareAndSwap(nil, err) })}, opts...)...)
	}
	subConn, err := connect(id+"-sub", subOpts)
	if err != nil {
		return loadResult{}, fmt.Errorf("connect to %s: %w", url, err)
	}
	defer subConn.Close()
	pubConn, err := connect(id+"-pub", pubOpts)
	if err != nil {
		return loadResult{}, fmt.Errorf("connect to %s: %w", url, err)
	}
	defer pubConn.Close()

	var received, lastNanos atomic.Int64
	all := make(chan struct{})
	sub, err := subConn.Subscribe(subject, func(*nats.Msg) {
		lastNanos.Store(time.Now().UnixNano())
		if received.Add(1) == int64(count) {
			close(all)
		}
	})
	if err != nil {
		return loadResult{}, err
	}
	// The client must not drop what it is slow to hand over; only the
	// broker's losses should count.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return loadResult{}, err
	}
	if err := subConn.Flush(); err != nil {
		return loadResult{}, err
	}
	payload := make([]byte, payloadSize)
	_, _ = rand.Read(payload)

	cpu0, err := cpuTime(brokerPID)
	if err != nil {
		return loadResult{}, err
	}
	self0 := selfCPU()
	start := time.Now()
	for i := range count {
		if err := pubConn.Publish(subject, payload); err != nil {
			return loadResult{}, fmt.Errorf("publish %d of %d: %w", i+1, count, err)
		}
	}
	if err := pubConn.FlushTimeout(clientTimeout); err != nil {
		return loadResult{}, err
	}
	pubDone := time.Since(start)
	if err := waitDrain(all, &lastNanos, start); err != nil {
		return loadResult{}, err
	}
	res := loadResult{sent: count, received: int(received.Load()), clientCPU: selfCPU() - self0, publishing: pubDone}
	cpu1, err := cpuTime(brokerPID)
	if err != nil {
		return loadResult{}, err
	}
	res.brokerCPU = cpu1 - cpu0
	if res.received == 0 {
		return res, fmt.Errorf("the subscriber on %s received nothing of %d messages", subject, count)
	}
	res.elapsed = time.Unix(0, lastNanos.Load()).Sub(start)
	if err, _ := asyncErr.Load().(error); err != nil {
		progress("  nats client reported: %v", err)
	}
	return res, nil
}
