package nucleus

import (
	"context"
	"errors"
	"fmt"

	"github.com/sward-iot/sward/edge/control"
	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/iotcore"
	"github.com/sward-iot/sward/edge/lifecycle"
	ddoc "github.com/sward-iot/sward/shared/deployment"
)

// backend answers the control API from the supervisor and the engine.
type backend struct {
	s *lifecycle.Supervisor
	e *deployment.Engine
	l *iotcore.Service // nil without a link
}

// CloudStatus is the link's state; not configured without one.
func (b backend) CloudStatus(ctx context.Context) control.CloudStatus {
	if b.l == nil {
		return control.CloudStatus{}
	}
	return control.CloudStatus{Configured: true, State: b.l.State(ctx)}
}

func (b backend) CreateDeployment(doc *ddoc.Document, recipeDir, artifactDir string) (ddoc.Status, error) {
	return b.e.Submit(deployment.Request{Document: doc, RecipeDir: recipeDir, ArtifactDir: artifactDir})
}

func (b backend) Deployments() ([]ddoc.Status, error) { return b.e.List() }

func (b backend) Deployment(id string) (ddoc.Status, error) {
	st, err := b.e.Get(id)
	if errors.Is(err, deployment.ErrUnknownDeployment) {
		return st, fmt.Errorf("%w %q: `sward deployment list` shows the known ones", control.ErrUnknownDeployment, id)
	}
	return st, err
}

func (b backend) Components() []control.Component {
	list := b.s.List()
	out := make([]control.Component, 0, len(list))
	for _, st := range list {
		out = append(out, toControl(st))
	}
	return out
}

func (b backend) Component(name string) (control.Component, bool) {
	st, ok := b.s.Status(name)
	if !ok {
		return control.Component{}, false
	}
	return toControl(st), true
}

func (b backend) Restart(name string) error { return mapErr(b.s.Restart(name)) }

// Stop asks the supervisor to stop the component and waits until it has:
// FINISHED, or BROKEN (a stop leaves a BROKEN component as it is). After
// control.StopWait it returns with the component still stopping.
func (b backend) Stop(name string) error {
	if err := b.s.Stop(name); err != nil {
		return mapErr(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), control.StopWait)
	defer cancel()
	_, err := b.s.WaitUntil(ctx, name, func(st lifecycle.Status) bool {
		return st.State == lifecycle.StateFinished || st.State == lifecycle.StateBroken
	})
	if err != nil && ctx.Err() == nil {
		return mapErr(err) // removed meanwhile
	}
	return nil
}

func mapErr(err error) error {
	if errors.Is(err, lifecycle.ErrUnknownComponent) {
		return control.ErrUnknownComponent
	}
	return err
}

func toControl(st lifecycle.Status) control.Component {
	c := control.Component{
		Name: st.Name, Version: st.Version, State: string(st.State), Reason: st.Reason,
		Since: st.Since, PID: st.PID, Restarts: st.Restarts, WorkDir: st.WorkDir, LogFile: st.LogFile,
		Paused: st.Paused,
	}
	for _, d := range st.Dependencies {
		typ := "HARD"
		if !d.Hard {
			typ = "SOFT"
		}
		c.Dependencies = append(c.Dependencies, control.Dependency{Name: d.Name, Type: typ})
	}
	return c
}
