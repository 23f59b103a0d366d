// Package testutil holds the helpers shared by the tests of every package
// of the module: polling until a condition holds (Eventually, Until),
// taking from a channel in time (Receive), running an embedded broker
// (RunBroker, StartBroker, and Serve for a test's child process), starting
// moto_server (StartMoto), mosquitto with mutual TLS as the IoT Core
// stand-in (StartMosquitto, with a test PKI from NewPKI), a TCP link a test
// can cut (StartProxy), the test binary as a child to kill -9 (StartChild),
// a cgroup's file (CgroupFile) and a small file system to fill (SmallDisk,
// FillDisk). Its subpackage testlog gives tests the log of the code under
// test and a buffer safe for concurrent use. Only _test files and test/
// import it (test/layout_test.go), and it imports nothing of edge/,
// lambdas/ or infra/: a broker is started through the small Broker
// interface.
package testutil

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// WaitTimeout is how long Eventually polls before it fails the test.
const WaitTimeout = 15 * time.Second

// Eventually polls cond every 10 ms until it returns nil, and fails t with
// what and cond's last error when WaitTimeout passes first.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, WaitTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Until polls cond every 5 ms until it holds, and fails t naming what when
// WaitTimeout passes first.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", WaitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Receive takes the next value from ch, and fails t naming what when none
// comes within WaitTimeout.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(WaitTimeout):
		t.Fatalf("%s: nothing within %s", what, WaitTimeout)
		panic("unreachable")
	}
}

// Broker is what StartBroker needs of an embedded broker (edge/broker's
// *Broker has it).
type Broker interface {
	Start() error
	Ready(timeout time.Duration) error
	Shutdown()
	WaitForShutdown()
	Connect(user string, opts ...nats.Option) (*nats.Conn, error)
}

// RunBroker starts b and waits until it accepts clients. The stop it
// returns shuts b down and waits; it is registered as t's cleanup too, and
// safe to call more than once (a test that restarts a broker stops it first).
func RunBroker(t testing.TB, b Broker) (stop func()) {
	t.Helper()
	stop, err := Serve(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

// Serve is RunBroker for a test's child process, which has no testing.TB:
// it starts b, waits until it accepts clients, and returns a stop that
// shuts b down and waits (safe to call more than once). When b does not
// become ready it is shut down again.
func Serve(b Broker) (stop func(), err error) {
	if err := b.Start(); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { b.Shutdown(); b.WaitForShutdown() }) }
	if err := b.Ready(WaitTimeout); err != nil {
		stop()
		return nil, fmt.Errorf("broker not ready: %w", err)
	}
	return stop, nil
}

// StartBroker runs b (RunBroker) and connects as user; the broker is shut
// down and the connection closed when t ends.
func StartBroker(t testing.TB, b Broker, user string) *nats.Conn {
	t.Helper()
	RunBroker(t, b)
	nc, err := b.Connect(user)
	if err != nil {
		t.Fatalf("connect to the broker as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
