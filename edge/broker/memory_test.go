package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/internal/testutil"
)

// runSettlingBroker starts a broker whose memory settler checks every
// 20 ms, so a test sees it act within a few polls.
func runSettlingBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := New(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	b.settle.interval = 20 * time.Millisecond
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(); b.WaitForShutdown() })
	if err := b.Ready(waitTimeout); err != nil {
		t.Fatal(err)
	}
	return b
}

func dialMany(t *testing.T, b *Broker, n int) []*nats.Conn {
	t.Helper()
	conns := make([]*nats.Conn, n)
	for i := range conns {
		nc, err := natsDial(b.NATSURL(), "sensor", sensorPass, nats.Name(fmt.Sprintf("idle-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}
	return conns
}

func releasedTimes(b *Broker, want int64) func() error {
	return func() error {
		if n := b.settle.releases.Load(); n != want {
			return fmt.Errorf("memory returned %d times, want %d (%d connections)", n, want, b.srv.NumClients())
		}
		return nil
	}
}

func TestTheBrokerReturnsIdleMemoryOnceManyClientsHaveConnectedOrLeft(t *testing.T) {
	b := runSettlingBroker(t)
	if n := b.settle.releases.Load(); n != 0 {
		t.Fatalf("memory returned %d times before any client came, want 0", n)
	}

	conns := dialMany(t, b, churnConnections)
	testutil.Eventually(t, "memory returned after the connects settled", releasedTimes(b, 1))

	for _, nc := range conns {
		nc.Close()
	}
	testutil.Eventually(t, "memory returned after the disconnects settled", releasedTimes(b, 2))
}

func TestAFewClientsComingAndGoingDoNotMakeTheBrokerCollect(t *testing.T) {
	b := runSettlingBroker(t)
	for range 3 {
		for _, nc := range dialMany(t, b, churnConnections/4) {
			nc.Close()
		}
	}
	dialMany(t, b, churnConnections-1)
	// Many checks pass with the count settled just under the threshold.
	checksAt := time.Now()
	testutil.Until(t, "ten settle checks", func() bool { return time.Since(checksAt) > 10*b.settle.interval })
	if n := b.settle.releases.Load(); n != 0 {
		t.Fatalf("memory returned %d times for a change of %d connections, want 0 (threshold %d)", n, churnConnections-1, churnConnections)
	}
}
