package metrics

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sward-iot/sward/internal/testutil/testlog"
	wire "github.com/sward-iot/sward/shared/ipc"
)

func TestMetricsOnATakenPortServesOnceThePortIsFree(t *testing.T) {
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := blocker.Addr().String()
	m := New()
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

func TestComponentMetricSeriesAreBoundedPerComponentAndForgottenWithIt(t *testing.T) {
	m := New()
	put := func(component string, names ...string) error {
		var xs []wire.Metric
		for _, n := range names {
			xs = append(xs, wire.Metric{Name: n, Unit: "COUNT", Value: 1})
		}
		return m.put(component, xs)
	}
	names := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("m%d", i))
		}
		return out
	}
	if err := put("com.example.Flood", names(0, MaxSeriesPerComponent)...); err != nil {
		t.Fatalf("put %d series: %v", MaxSeriesPerComponent, err)
	}
	if err := put("com.example.Flood", "m0", "m1"); err != nil {
		t.Errorf("updating existing series: %v, want it accepted at the cap", err)
	}
	err := put("com.example.Flood", "m0", "extra")
	if err == nil || !strings.Contains(err.Error(), "component com.example.Flood has 100 metric series and this request adds 1: a component may have at most 100") {
		t.Errorf("series over the cap: %v, want a ServiceError naming the component and the cap", err)
	}
	if err := put("com.example.Other", "m0"); err != nil {
		t.Errorf("another component's first series: %v, want the cap to be per component", err)
	}
	if got := testutil.CollectAndCount(m.component); got != MaxSeriesPerComponent+1 {
		t.Errorf("%d series registered, want %d (a refused request sets nothing)", got, MaxSeriesPerComponent+1)
	}
	m.Forget("com.example.Flood")
	if got := testutil.CollectAndCount(m.component); got != 1 {
		t.Errorf("%d series after the component was removed, want only the other component's 1", got)
	}
	if err := put("com.example.Flood", names(0, MaxSeriesPerComponent)...); err != nil {
		t.Errorf("a removed and re-deployed component starts with no series: %v", err)
	}
}
