package nucleus

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/sward-iot/sward/edge/deployment"
	"github.com/sward-iot/sward/edge/tes"
	"github.com/sward-iot/sward/edge/watch"
	ddoc "github.com/sward-iot/sward/shared/deployment"
	wire "github.com/sward-iot/sward/shared/ipc"
	"github.com/sward-iot/sward/shared/recipe"
)

// Groups of the deployments the nucleus makes itself. Each replaces its own
// root set; the device runs the union with LOCAL (the CLI's) and, later,
// the cloud's thing groups.
const (
	// GroupFolder deploys --recipes: every component in the folder.
	GroupFolder = "LOCAL_FOLDER"
	// GroupGit deploys --git: every component at the branch's last commit.
	GroupGit = "LOCAL_GIT"
)

// startupApplyTimeout bounds how long Start waits for the --recipes
// deployment to reach the supervisor (not to finish): preparing means
// copying artifacts, seconds even for large ones on an SD card.
const startupApplyTimeout = 2 * time.Minute

// deployFolder queues a deployment of every component in dir.
func (n *Nucleus) deployFolder(dir string) (ddoc.Status, error) {
	return n.engine.Submit(deployment.Request{
		Document:       n.document(GroupFolder),
		RecipeDir:      dir,
		ArtifactDir:    n.opts.ArtifactsDir,
		WholeRecipeDir: true,
	})
}

// document is an empty deployment of group with the nucleus's policy.
func (n *Nucleus) document(group string) *ddoc.Document {
	doc := ddoc.New(group)
	doc.Policies.FailureHandling = ddoc.FailureHandling(n.opts.FailureHandling)
	return doc
}

// watchFolder redeploys --recipes whenever it (or --artifacts) changes,
// in goroutines of bg.
func (n *Nucleus) watchFolder(bg *background) error {
	w, err := watch.NewDir(watch.DirOptions{Dir: n.opts.RecipesDir, ArtifactDir: n.opts.ArtifactsDir, Logger: n.opts.Logger})
	if err != nil {
		return err
	}
	if err := w.Start(bg.ctx); err != nil {
		return err
	}
	bg.Go(func(ctx context.Context) {
		follow(ctx, n, "recipes folder", w.Changes(), w.Errors(), w.Close, func(c watch.Change) {
			n.log.Info("recipes folder changed: deploying", "dir", c.Dir)
			if _, err := n.deployFolder(n.opts.RecipesDir); err != nil {
				n.log.Error("recipes folder refused", "error", err)
			}
		})
	})
	return nil
}

// watchGit deploys every new commit of --git's branch, in goroutines of bg.
func (n *Nucleus) watchGit(bg *background) error {
	w, err := watch.NewGit(watch.GitOptions{Repo: n.opts.GitRepo, Branch: n.opts.GitBranch, Path: n.opts.GitPath, Logger: n.opts.Logger})
	if err != nil {
		return err
	}
	if err := w.Start(bg.ctx); err != nil {
		return err
	}
	bg.Go(func(ctx context.Context) {
		follow(ctx, n, "git repository", w.Commits(), w.Errors(), w.Close, func(c watch.Commit) {
			n.log.Info("new commit: deploying", "commit", c.ID, "subject", c.Subject)
			st, err := n.engine.Submit(deployment.Request{
				Document:       n.document(GroupGit),
				RecipeDir:      c.Dir,
				ArtifactDir:    n.opts.ArtifactsDir,
				WholeRecipeDir: true,
				CommitID:       c.ID,
			})
			if err != nil {
				n.log.Error("commit refused", "commit", c.ID, "error", err)
				w.Done(c)
				return
			}
			// The export may hold file: artifacts, read when the deployment
			// runs: release it only once the deployment ended.
			bg.Go(func(ctx context.Context) {
				_, _ = n.engine.Wait(ctx, st.DeploymentID)
				w.Done(c)
			})
		})
	})
	return nil
}

// follow hands each event of a watcher to on and logs its errors, until
// ctx ends; then it closes the watcher.
func follow[T any](ctx context.Context, n *Nucleus, what string, events <-chan T, errs <-chan error, closeWatcher func() error, on func(T)) {
	defer closeWatcher()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errs:
			n.log.Warn(what, "error", err)
		case ev := <-events:
			on(ev)
		}
	}
}

// startupDeployment deploys --recipes at start and waits until the engine
// has handed it to the supervisor. Refused recipes are logged and recorded;
// the nucleus keeps running the last good set.
func (n *Nucleus) startupDeployment() {
	st, err := n.deployFolder(n.opts.RecipesDir)
	if err != nil {
		n.log.Error("recipes folder refused: running the last good set", "dir", n.opts.RecipesDir, "error", err)
		return
	}
	n.startupID = st.DeploymentID
	ctx, cancel := context.WithTimeout(context.Background(), startupApplyTimeout)
	defer cancel()
	if _, err := n.engine.WaitApplied(ctx, st.DeploymentID); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		n.log.Warn("startup deployment", "error", err)
	}
}

// componentEnv is the environment every lifecycle step of a component gets
// (documented in docs/components.md).
func (n *Nucleus) componentEnv(r *recipe.Recipe) map[string]string {
	env := map[string]string{
		wire.EnvNATSURL:          n.broker.NATSURL(),
		wire.EnvComponentName:    r.Name,
		wire.EnvComponentVersion: r.Version,
		wire.EnvRoot:             n.opts.Root,
		wire.EnvWorkPath:         n.workPath(r.Name),
		wire.EnvThingName:        n.opts.ThingName,
		"AWS_REGION":             n.opts.Region,
		"AWS_DEFAULT_REGION":     n.opts.Region,
	}
	if addr := n.broker.MQTTAddr(); addr != "" {
		scheme := "tcp://"
		if n.opts.TLSCert != "" {
			scheme = "tls://"
		}
		env[wire.EnvMQTTURL] = scheme + addr
	}
	if n.trust.caFile != "" {
		env[wire.EnvNATSCA] = n.trust.caFile
	}
	if n.trust.serverName != "" {
		env[wire.EnvTLSServerName] = n.trust.serverName
	}
	if _, ok := r.Dependencies[tes.ComponentName]; ok && n.tes != nil {
		maps.Copy(env, n.tes.Env(r.Name))
	}
	return env
}
