package ipc

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sward-iot/sward/edge/internal/testlog"
)

func TestMetricsOnATakenPortServesOnceThePortIsFree(t *testing.T) {
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := blocker.Addr().String()
	m := NewMetrics()
	t.Cleanup(m.Close)
	if err := m.Serve(addr, testlog.New(t)); err != nil {
		t.Fatalf("Serve on a taken port: %v, want it to retry in the background", err)
	}
	if got := m.Addr(); got != "" {
		t.Fatalf("Addr while the port is taken = %q, want empty", got)
	}
	blocker.Close()

	deadline := time.Now().Add(3 * metricsRetry)
	for {
		err := scrape(addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never answered on %s once the port was free: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := m.Addr(); got != addr {
		t.Errorf("Addr = %q, want %q", got, addr)
	}
}

func scrape(addr string) error {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
