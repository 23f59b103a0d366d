package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// Subjects of the deployment operations.
const (
	SubjectDeploymentCreate = SubjectPrefix + ".deployment.create"
	SubjectDeploymentList   = SubjectPrefix + ".deployment.list"
	SubjectDeploymentStatus = SubjectPrefix + ".deployment.status"
)

// CreateDeploymentRequest queues a deployment on the nucleus. Paths are on
// the device and absolute.
type CreateDeploymentRequest struct {
	Document    json.RawMessage `json:"document"`
	RecipeDir   string          `json:"recipeDir,omitempty"`
	ArtifactDir string          `json:"artifactDir,omitempty"`
}

// DeploymentRequest names one deployment.
type DeploymentRequest struct {
	DeploymentID string `json:"deploymentId"`
}

// ErrUnknownDeployment is returned by a Backend for an id it has no record of.
var ErrUnknownDeployment = errors.New("unknown deployment")

// CreateDeployment queues a deployment and returns its status.
func (c *Client) CreateDeployment(ctx context.Context, doc *ddoc.Document, recipeDir, artifactDir string) (ddoc.Status, error) {
	data, err := doc.Encode()
	if err != nil {
		return ddoc.Status{}, err
	}
	var out ddoc.Status
	err = c.call(ctx, SubjectDeploymentCreate, CreateDeploymentRequest{Document: data, RecipeDir: recipeDir, ArtifactDir: artifactDir}, &out)
	return out, err
}

// Deployments lists the recorded deployments, oldest first.
func (c *Client) Deployments(ctx context.Context) ([]ddoc.Status, error) {
	var out []ddoc.Status
	err := c.call(ctx, SubjectDeploymentList, struct{}{}, &out)
	return out, err
}

// Deployment returns one deployment's status.
func (c *Client) Deployment(ctx context.Context, id string) (ddoc.Status, error) {
	var out ddoc.Status
	err := c.call(ctx, SubjectDeploymentStatus, DeploymentRequest{DeploymentID: id}, &out)
	return out, err
}

// waitPoll is how often WaitDeployment asks: a person waiting on
// `deployment create --wait` does not notice a quarter second.
const waitPoll = 250 * time.Millisecond

// WaitDeployment polls until the deployment reaches a terminal state or ctx ends.
func (c *Client) WaitDeployment(ctx context.Context, id string) (ddoc.Status, error) {
	for {
		st, err := c.Deployment(ctx, id)
		if err != nil || st.State.Terminal() {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("deployment %s is still %s: %w", id, st.State, ctx.Err())
		case <-time.After(waitPoll):
		}
	}
}

func (s *Server) createDeployment(data []byte) (any, *Error) {
	var req CreateDeploymentRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, &Error{Code: CodeInvalidArguments, Message: fmt.Sprintf("request is not valid JSON (%v)", err)}
	}
	doc, err := ddoc.Decode(req.Document)
	if err != nil {
		return nil, &Error{Code: CodeInvalidArguments, Message: err.Error()}
	}
	st, err := s.backend.CreateDeployment(doc, req.RecipeDir, req.ArtifactDir)
	if err != nil {
		return nil, &Error{Code: CodeInvalidArguments, Message: err.Error()}
	}
	return st, nil
}

func (s *Server) listDeployments([]byte) (any, *Error) {
	list, err := s.backend.Deployments()
	if err != nil {
		return nil, &Error{Code: CodeService, Message: err.Error()}
	}
	return list, nil
}

func (s *Server) deploymentStatus(data []byte) (any, *Error) {
	var req DeploymentRequest
	if err := json.Unmarshal(data, &req); err != nil || req.DeploymentID == "" {
		return nil, &Error{Code: CodeInvalidArguments, Message: "request lacks a deployment id: send {\"deploymentId\":\"<id>\"}"}
	}
	st, err := s.backend.Deployment(req.DeploymentID)
	if errors.Is(err, ErrUnknownDeployment) {
		return nil, &Error{Code: CodeResourceNotFound, Message: err.Error()}
	}
	if err != nil {
		return nil, &Error{Code: CodeService, Message: err.Error()}
	}
	return st, nil
}
