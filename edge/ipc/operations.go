package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/sward-iot/sward/edge/authz"

	"github.com/sward-iot/sward/edge/lifecycle"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// pauseResume answers PauseComponent and ResumeComponent (Greengrass's
// component lifecycle service): the named component's cgroup is frozen or
// thawed. The caller needs an aws.greengrass.ipc.lifecycle policy naming
// the component, even to pause itself, as in Greengrass.
func (s *Server) pauseResume(caller, op string, body []byte) (any, error) {
	var req wire.ComponentRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.ComponentName == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "componentName is missing; name the component to %s", strings.TrimSuffix(op, "Component"))
	}
	if err := s.authorize(caller, authz.ServiceLifecycle, op, req.ComponentName); err != nil {
		return nil, err
	}
	f := s.opts.Supervisor.Pause
	if op == wire.OpResumeComponent {
		f = s.opts.Supervisor.Resume
	}
	switch err := f(req.ComponentName); {
	case errors.Is(err, lifecycle.ErrUnknownComponent):
		return nil, wire.Errorf(wire.CodeResourceNotFound, "component %s is not deployed on this device", req.ComponentName)
	case errors.Is(err, lifecycle.ErrNotPausable):
		return nil, wire.Errorf(wire.CodeService, "%s", err.Error())
	case err != nil:
		return nil, err
	}
	return struct{}{}, nil
}

// updateState answers UpdateState: a component reports RUNNING (a Startup
// that leaves a service behind) or ERRORED.
func (s *Server) updateState(caller string, body []byte) (any, error) {
	var req wire.UpdateStateRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st := lifecycle.State(req.State)
	if st != lifecycle.StateRunning && st != lifecycle.StateErrored {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "state is %q; report RUNNING or ERRORED", req.State)
	}
	if err := s.opts.Supervisor.ReportState(caller, st); err != nil {
		if errors.Is(err, lifecycle.ErrInvalidReport) {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err)
		}
		return nil, wire.Errorf(wire.CodeResourceNotFound, "%v", err)
	}
	return struct{}{}, nil
}

// cli answers the aws.greengrass.Cli operations.
func (s *Server) cli(ctx context.Context, caller, op string, body []byte) (any, error) {
	switch op {
	case wire.OpListComponents:
		if err := decode(body, &struct{}{}); err != nil {
			return nil, err
		}
		if err := s.authorize(caller, authz.ServiceCli, op, ""); err != nil {
			return nil, err
		}
		list := s.opts.Supervisor.List()
		resp := wire.ListComponentsResponse{Components: make([]wire.ComponentDetails, 0, len(list))}
		for _, st := range list {
			resp.Components = append(resp.Components, wire.ComponentDetails{ComponentName: st.Name, Version: st.Version, State: string(st.State)})
		}
		return resp, nil
	case wire.OpListLocalDeployments:
		if err := decode(body, &struct{}{}); err != nil {
			return nil, err
		}
		if err := s.authorize(caller, authz.ServiceCli, op, ""); err != nil {
			return nil, err
		}
		if s.opts.Deployments == nil {
			return nil, unavailable(op)
		}
		list, err := s.opts.Deployments.List()
		if err != nil {
			return nil, err
		}
		resp := wire.ListLocalDeploymentsResponse{LocalDeployments: []wire.LocalDeployment{}}
		for _, d := range list {
			resp.LocalDeployments = append(resp.LocalDeployments, localDeployment(d.DeploymentID, string(d.State), d.CreatedAt, d.Reason))
		}
		return resp, nil
	case wire.OpGetLocalDeploymentStatus:
		var req wire.GetLocalDeploymentStatusRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		if err := s.authorize(caller, authz.ServiceCli, op, req.DeploymentID); err != nil {
			return nil, err
		}
		if s.opts.Deployments == nil {
			return nil, unavailable(op)
		}
		d, err := s.opts.Deployments.Get(req.DeploymentID) // an unknown id is a ResourceNotFoundError
		if err != nil {
			return nil, err
		}
		return wire.GetLocalDeploymentStatusResponse{Deployment: localDeployment(d.DeploymentID, string(d.State), d.CreatedAt, d.Reason)}, nil
	case wire.OpCreateLocalDeployment:
		var req wire.CreateLocalDeploymentRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		if err := s.authorize(caller, authz.ServiceCli, op, ""); err != nil {
			return nil, err
		}
		if s.opts.Deployments == nil {
			return nil, unavailable(op)
		}
		id, err := s.opts.Deployments.CreateLocal(req)
		if err != nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "%v", err)
		}
		return wire.CreateLocalDeploymentResponse{DeploymentID: id}, nil
	}
	// The operations on one component.
	var req wire.ComponentRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.ComponentName == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "componentName is missing; name the component to %s", strings.TrimSuffix(op, "Component"))
	}
	if err := s.authorize(caller, authz.ServiceCli, op, req.ComponentName); err != nil {
		return nil, err
	}
	st, ok := s.opts.Supervisor.Status(req.ComponentName)
	if !ok {
		return nil, wire.Errorf(wire.CodeComponentNotFound, "component %s is not deployed on this device", req.ComponentName)
	}
	switch op {
	case wire.OpGetComponentDetails:
		d := wire.ComponentDetails{ComponentName: st.Name, Version: st.Version, State: string(st.State)}
		if cfg, err := s.opts.Config.Lookup(ctx, st.Name, nil); err == nil {
			d.Configuration, _ = cfg.(map[string]any)
		}
		return wire.GetComponentDetailsResponse{ComponentDetails: d}, nil
	case wire.OpRestartComponent:
		if err := s.opts.Supervisor.Restart(req.ComponentName); err != nil {
			return wire.RestartComponentResponse{RestartStatus: wire.RequestFailed, Message: err.Error()}, nil
		}
		return wire.RestartComponentResponse{RestartStatus: wire.RequestSucceeded}, nil
	default: // StopComponent
		if err := s.opts.Supervisor.Stop(req.ComponentName); err != nil {
			return wire.StopComponentResponse{StopStatus: wire.RequestFailed, Message: err.Error()}, nil
		}
		return wire.StopComponentResponse{StopStatus: wire.RequestSucceeded}, nil
	}
}

func localDeployment(id, state string, created time.Time, reason string) wire.LocalDeployment {
	d := wire.LocalDeployment{DeploymentID: id, Status: state, Reason: reason}
	if !created.IsZero() {
		d.CreatedOn = created.UTC().Format(time.RFC3339)
	}
	return d
}

// putMetric answers PutComponentMetric (aws.greengrass.ipc.componentmetric).
func (s *Server) putMetric(caller string, body []byte) (any, error) {
	var req wire.PutComponentMetricRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.Metrics) == 0 {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "metrics is empty; send at least one {name, unit, value}")
	}
	for i, m := range req.Metrics {
		if err := checkMetric(m); err != nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "metrics[%d]: %v", i, err)
		}
		if err := s.authorize(caller, authz.ServiceComponentMetric, wire.OpPutComponentMetric, m.Name); err != nil {
			return nil, err
		}
	}
	if s.opts.Metrics == nil {
		return nil, unavailable(wire.OpPutComponentMetric)
	}
	return struct{}{}, s.opts.Metrics.put(caller, req.Metrics)
}

// shadow answers the ShadowManager operations after the access check on
// the shadow's resource name.
func (s *Server) shadow(ctx context.Context, caller, op string, body []byte) (any, error) {
	if op == wire.OpListNamedShadowsForThing {
		var req wire.ListNamedShadowsForThingRequest
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		if req.ThingName == "" {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "thingName is missing")
		}
		if err := s.authorize(caller, authz.ServiceShadowManager, op, "$aws/things/"+req.ThingName); err != nil {
			return nil, err
		}
		if s.opts.Shadows == nil {
			return nil, unavailable(op)
		}
		names, next, err := s.opts.Shadows.ListNamed(ctx, req.ThingName, req.NextToken, req.PageSize)
		if err != nil {
			return nil, err
		}
		if names == nil {
			names = []string{}
		}
		return wire.ListNamedShadowsForThingResponse{Results: names, NextToken: next, Timestamp: time.Now().Unix()}, nil
	}
	var req wire.UpdateThingShadowRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if op != wire.OpUpdateThingShadow && req.Payload != nil {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "%s takes thingName and shadowName only; remove payload", op)
	}
	if req.ThingName == "" {
		return nil, wire.Errorf(wire.CodeInvalidArguments, "thingName is missing")
	}
	res := "$aws/things/" + req.ThingName + "/shadow"
	if req.ShadowName != "" {
		res += "/name/" + req.ShadowName
	}
	if err := s.authorize(caller, authz.ServiceShadowManager, op, res); err != nil {
		return nil, err
	}
	if s.opts.Shadows == nil {
		return nil, unavailable(op)
	}
	var doc []byte
	var err error
	switch op {
	case wire.OpGetThingShadow:
		doc, err = s.opts.Shadows.Get(ctx, req.ThingName, req.ShadowName)
	case wire.OpDeleteThingShadow:
		doc, err = s.opts.Shadows.Delete(ctx, req.ThingName, req.ShadowName)
	default:
		if req.Payload == nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "payload is missing; send the shadow update document, e.g. {\"state\":{\"reported\":{...}}}")
		}
		doc, err = s.opts.Shadows.Update(ctx, req.ThingName, req.ShadowName, req.Payload)
	}
	if err != nil {
		return nil, err
	}
	return wire.ShadowResponse{Payload: json.RawMessage(doc)}, nil
}

// stream answers the stream manager operations after the access check on
// the stream name (sward.StreamManager policies).
func (s *Server) stream(ctx context.Context, caller, op string, body []byte) (any, error) {
	var probe struct {
		StreamName string `json:"streamName"`
		Definition *struct {
			Name string `json:"name"`
		} `json:"definition"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, wire.Errorf(wire.CodeInvalidArguments, "request is not a JSON object: %v", err)
		}
	}
	res := probe.StreamName
	if probe.Definition != nil {
		res = probe.Definition.Name
	}
	if err := s.authorize(caller, authz.ServiceStreamManager, op, res); err != nil {
		return nil, err
	}
	if s.opts.Streams == nil {
		return nil, unavailable(op)
	}
	out, err := s.opts.Streams.Handle(ctx, op, body)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}

func unavailable(op string) error {
	return wire.Errorf(wire.CodeService, "%s is not served by this nucleus (the service is not running)", op)
}
