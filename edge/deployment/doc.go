// Package deployment owns the deployment engine: which components, at which
// versions and configurations, the device runs, and getting the supervisor
// there — or back, on failure — across crashes of the nucleus.
//
// A deployment targets a group and sets that group's root components; the
// device runs the union of every group's latest roots (LOCAL for the CLI,
// LOCAL_FOLDER for `sward run --recipes`, LOCAL_GIT for `--git`, thing
// groups for the cloud). Resolve turns roots into versions; the component
// store (edge/store) and the configuration store (edge/config) hold what the
// supervisor (edge/lifecycle) is handed.
//
// Stages, each recorded in the sward_deployments KV bucket before the
// engine acts on it:
//
//	QUEUED ─► IN_PROGRESS: prepare (resolve, download and install
//	          artifacts, compute configuration and the trusted
//	          configuration, resolve RequiresPrivilege/Timeout variables;
//	          nothing that runs changes)
//	            │ failure ─► FAILED (nothing to undo)
//	            ▼
//	          active{APPLYING, previous, target} recorded
//	          write target configuration, supervisor.Apply(target),
//	          settle (all RUNNING/FINISHED for StableFor; BROKEN or timeout fails)
//	            │ success ─► current = target ─► SUCCEEDED
//	            │ failure, DO_NOTHING ─► current = target ─► FAILED
//	            ▼ failure, ROLLBACK
//	          active{ROLLING_BACK} recorded
//	          restore previous configuration, supervisor.Apply(previous), settle
//	            ─► current = previous ─► ROLLED_BACK (or FAILED if that fails too)
//
// A run takes the oldest queued deployment and, when it is a LOCAL change,
// the LOCAL changes queued right behind it with the same policies (LOCAL
// documents are deltas: none may be dropped). The first carries the others:
// they are recorded IN_PROGRESS with carriedBy before it, it alone becomes
// the active deployment, and they end in its state.
//
// Cancel (the cloud canceled a deployment's job): a queued deployment ends
// CANCELED when its turn comes, one still preparing ends CANCELED after it,
// and one being applied fails with the cancel as its reason and follows
// its failure handling (rolled back, or left as it is for DO_NOTHING). A
// cancel is not recorded: after a restart the deployment runs to its end.
//
// Start after a crash: an IN_PROGRESS deployment without an active record
// changed nothing and is queued again (its carried ones too, to be batched
// again in the same order); one carried by the active deployment ends with
// it; one carried by a deployment that already ended takes its outcome. An
// active APPLYING one is applied
// again (converging to the target, or rolling back if it fails); an active
// ROLLING_BACK one is rolled back again. Every step is idempotent, so a crash
// at any point converges. Without an active record, Start hands the last
// good set (current) to the supervisor.
//
// Trusted configuration. Each component of a set carries the configuration
// deployments alone made (defaults, then every deployment's reset and
// merge), apart from the live one in edge/config that components may change
// over IPC. RequiresPrivilege and Timeout written as recipe variables are
// resolved from it only, so a component cannot make its own steps run as
// root (trustedSteps).
//
// IPC. The aws.greengrass.Cli deployment operations are here (ipc_*.go,
// registered by RegisterIPC): CreateLocalDeployment, ListLocalDeployments
// and GetLocalDeploymentStatus.
package deployment
