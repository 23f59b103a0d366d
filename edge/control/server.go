package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	ddoc "github.com/sward-iot/sward/shared/deployment"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// ErrUnknownComponent is returned by a Backend for a component it does not run.
var ErrUnknownComponent = errors.New("unknown component")

// Backend is what the control Server needs from the nucleus.
type Backend interface {
	Components() []Component
	Component(name string) (Component, bool)
	Restart(name string) error
	// Stop returns once the component has stopped, or after StopWait.
	Stop(name string) error
	CreateDeployment(doc *ddoc.Document, recipeDir, artifactDir string) (ddoc.Status, error)
	Deployments() ([]ddoc.Status, error)
	Deployment(id string) (ddoc.Status, error)
	// CloudStatus is the state of the link to AWS IoT Core (cloud.go).
	CloudStatus(ctx context.Context) CloudStatus
}

// Server answers the control subjects on a NATS connection.
type Server struct {
	nc      *nats.Conn
	backend Backend
	log     *slog.Logger
	subs    []*nats.Subscription
}

// NewServer prepares a server answering the control subjects on nc from
// backend. It subscribes to nothing until Start.
func NewServer(nc *nats.Conn, backend Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{nc: nc, backend: backend, log: log.With("service", "control")}
}

// Start subscribes to the control subjects. It does not block; on error
// it leaves nothing subscribed.
func (s *Server) Start() error {
	handlers := map[string]func([]byte) (any, *Error){
		SubjectComponentList:    s.list,
		SubjectComponentDetails: s.details,
		SubjectComponentRestart: s.restart,
		SubjectComponentStop:    s.stop,
		SubjectDeploymentCreate: s.createDeployment,
		SubjectDeploymentList:   s.listDeployments,
		SubjectDeploymentStatus: s.deploymentStatus,
		SubjectCloudStatus:      s.cloudStatus,
	}
	for subject, h := range handlers {
		sub, err := s.nc.Subscribe(subject, s.handle(subject, h))
		if err != nil {
			s.Close()
			return fmt.Errorf("control server: subscribe %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	if err := s.nc.Flush(); err != nil {
		s.Close()
		return fmt.Errorf("control server: %w", err)
	}
	return nil
}

// Close stops answering.
func (s *Server) Close() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.subs = nil
}

func (s *Server) handle(subject string, h func([]byte) (any, *Error)) nats.MsgHandler {
	return func(m *nats.Msg) {
		if !wire.ReplyAllowed(m.Reply) {
			return // nothing to answer, or a subject that is not an inbox
		}
		result, e := h(m.Data)
		var resp response
		if e != nil {
			resp.Error = e
			s.log.Info("control request refused", "subject", subject, "code", e.Code, "error", e.Message)
		} else {
			raw, err := json.Marshal(result)
			if err != nil {
				resp.Error = &Error{Code: CodeService, Message: "encode result: " + err.Error()}
			} else {
				resp.Result = raw
			}
		}
		data, _ := json.Marshal(resp)
		if err := m.Respond(data); err != nil {
			s.log.Warn("control reply failed", "subject", subject, "error", err)
		}
	}
}

func decodeName(data []byte) (string, *Error) {
	var req ComponentRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return "", &Error{Code: CodeInvalidArguments, Message: fmt.Sprintf("request is not valid JSON (%v): send {\"name\":\"<component>\"}", err)}
	}
	if req.Name == "" {
		return "", &Error{Code: CodeInvalidArguments, Message: "request lacks a component name: send {\"name\":\"<component>\"}"}
	}
	return req.Name, nil
}

func (s *Server) list([]byte) (any, *Error) { return s.backend.Components(), nil }

func (s *Server) details(data []byte) (any, *Error) {
	name, e := decodeName(data)
	if e != nil {
		return nil, e
	}
	c, ok := s.backend.Component(name)
	if !ok {
		return nil, notFound(name)
	}
	return c, nil
}

func (s *Server) restart(data []byte) (any, *Error) { return s.act(data, s.backend.Restart) }
func (s *Server) stop(data []byte) (any, *Error)    { return s.act(data, s.backend.Stop) }

func (s *Server) act(data []byte, op func(string) error) (any, *Error) {
	name, e := decodeName(data)
	if e != nil {
		return nil, e
	}
	if err := op(name); err != nil {
		if errors.Is(err, ErrUnknownComponent) {
			return nil, notFound(name)
		}
		return nil, &Error{Code: CodeService, Message: err.Error()}
	}
	c, _ := s.backend.Component(name)
	return c, nil
}

func notFound(name string) *Error {
	return &Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("no component %q runs on this nucleus: `sward component list` shows those that do", name)}
}
