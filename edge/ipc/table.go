package ipc

import (
	"context"

	"github.com/sward-iot/sward/edge/config"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// request is one operation call as the front end hands it to a handler:
// the caller (already known to the registry), the operation name and the
// undecoded body.
type request struct {
	caller string
	op     string
	body   []byte
}

// operation is one row of the operation table.
type operation struct {
	// fast operations are answered by the caller's lane worker, in order:
	// they touch only memory or one KV read, so a goroutine per request
	// would cost more than the work (GetConfiguration is the latency
	// figure of the IPC). The others get a goroutine of their own under
	// the server-wide MaxInFlight bound.
	fast bool
	// handle decodes the body, authorizes the caller and runs the
	// operation; errors are *wire.Error for the caller to see.
	handle func(s *Server, ctx context.Context, r request) (any, error)
}

// operations is the IPC operation table: adding an operation is a handler
// and one line here. An operation not in the table is
// UnsupportedOperationError.
var operations = map[string]operation{}

func init() {
	add := func(fast bool, h func(s *Server, ctx context.Context, r request) (any, error), names ...string) {
		for _, n := range names {
			if _, dup := operations[n]; dup {
				panic("ipc: operation " + n + " registered twice")
			}
			operations[n] = operation{fast: fast, handle: h}
		}
	}
	const fast, slow = true, false

	// Configuration (aws.greengrass.ipc.config is not checked: a component
	// reads and writes its own configuration).
	add(fast, getConfiguration, wire.OpGetConfiguration)
	add(slow, updateConfiguration, wire.OpUpdateConfiguration)
	add(fast, subscribeToConfigurationUpdate, wire.OpSubscribeToConfigurationUpdate)
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		if err := decode(r.body, &struct{}{}); err != nil {
			return nil, err
		}
		s.ev.subscribe(r.caller, wire.EventValidateConfigurationUpdates)
		return struct{}{}, nil
	}, wire.OpSubscribeToValidateConfigurationUpdates)
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		var req wire.SendConfigurationValidityReportRequest
		if err := decode(r.body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, s.ev.report(r.caller, req.ConfigurationValidityReport)
	}, wire.OpSendConfigurationValidityReport)

	// Lifecycle.
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		if err := decode(r.body, &struct{}{}); err != nil {
			return nil, err
		}
		s.ev.subscribe(r.caller, wire.EventComponentUpdates)
		return struct{}{}, nil
	}, wire.OpSubscribeToComponentUpdates)
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		var req wire.DeferComponentUpdateRequest
		if err := decode(r.body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, s.ev.deferral(r.caller, req)
	}, wire.OpDeferComponentUpdate)
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		return s.updateState(r.caller, r.body)
	}, wire.OpUpdateState)
	add(slow, func(s *Server, _ context.Context, r request) (any, error) {
		return s.pauseResume(r.caller, r.op, r.body)
	}, wire.OpPauseComponent, wire.OpResumeComponent)

	// aws.greengrass.Cli.
	cli := func(s *Server, ctx context.Context, r request) (any, error) {
		return s.cli(ctx, r.caller, r.op, r.body)
	}
	add(fast, cli, wire.OpGetComponentDetails, wire.OpListComponents)
	add(slow, cli, wire.OpRestartComponent, wire.OpStopComponent,
		wire.OpCreateLocalDeployment, wire.OpListLocalDeployments, wire.OpGetLocalDeploymentStatus)

	// Metrics.
	add(fast, func(s *Server, _ context.Context, r request) (any, error) {
		return s.putMetric(r.caller, r.body)
	}, wire.OpPutComponentMetric)

	// Shadows and streams.
	add(slow, func(s *Server, ctx context.Context, r request) (any, error) {
		return s.shadow(ctx, r.caller, r.op, r.body)
	}, wire.OpGetThingShadow, wire.OpUpdateThingShadow, wire.OpDeleteThingShadow, wire.OpListNamedShadowsForThing)
	add(slow, func(s *Server, ctx context.Context, r request) (any, error) {
		return s.stream(ctx, r.caller, r.op, r.body)
	}, wire.StreamOperations...)

	// Operations answered with where to go instead.
	add(slow, func(_ *Server, _ context.Context, r request) (any, error) {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "%s is a plain NATS publish or subscribe (MQTT topic a/b is subject a.b), under the component's pubsub permissions", r.op)
	}, wire.OpPublishToTopic, wire.OpSubscribeToTopic)
	add(slow, func(_ *Server, _ context.Context, r request) (any, error) {
		return nil, wire.Errorf(wire.CodeService, "%s needs the AWS IoT Core link, which this nucleus does not run yet", r.op)
	}, wire.OpPublishToIoTCore, wire.OpSubscribeToIoTCore)
}

// subscribeToConfigurationUpdate answers SubscribeToConfigurationUpdate:
// events for the named component's configuration (the caller's own when no
// name is given) under keyPath.
func subscribeToConfigurationUpdate(s *Server, _ context.Context, r request) (any, error) {
	var req wire.SubscribeToConfigurationUpdateRequest
	if err := decode(r.body, &req); err != nil {
		return nil, err
	}
	if req.ComponentName == "" {
		req.ComponentName = r.caller
	}
	if len(req.KeyPath) > config.MaxDepth {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "keyPath has %d keys; configurations are at most %d deep", len(req.KeyPath), config.MaxDepth)
	}
	return struct{}{}, s.ev.subscribeConfig(r.caller, req.ComponentName, req.KeyPath)
}
