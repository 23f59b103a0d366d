package metrics

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/sward-iot/sward/edge/authz"
	"github.com/sward-iot/sward/edge/ipc/op"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// RegisterIPC adds PutComponentMetric to t, fast: it sets gauges in memory.
func (m *Metrics) RegisterIPC(t *op.Table) {
	t.Register(wire.OpPutComponentMetric, op.Operation{Fast: true, Handle: m.putComponentMetric})
}

// putComponentMetric answers PutComponentMetric: each metric needs an
// aws.greengrass.ipc.componentmetric policy granting it on its name; the
// request sets all its metrics or none.
func (m *Metrics) putComponentMetric(_ context.Context, c *op.Call) (any, error) {
	var req wire.PutComponentMetricRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if len(req.Metrics) == 0 {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "metrics is empty; send at least one {name, unit, value}")
	}
	for i, x := range req.Metrics {
		if err := checkMetric(x); err != nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "metrics[%d]: %v", i, err)
		}
		if err := c.Authorize(authz.ServiceComponentMetric, wire.OpPutComponentMetric, x.Name); err != nil {
			return nil, err
		}
	}
	return struct{}{}, m.put(c.Caller, req.Metrics)
}

var metricName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

func checkMetric(m wire.Metric) error {
	if !metricName.MatchString(m.Name) {
		return fmt.Errorf("name %q must be 1-128 letters, digits, '_', '.', ':' or '-'", m.Name)
	}
	if !slices.Contains(wire.MetricUnits, m.Unit) {
		return fmt.Errorf("unit %q is not one of %v", m.Unit, wire.MetricUnits)
	}
	return nil
}
