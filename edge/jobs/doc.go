// Package jobs is the device side of cloud deployments: an AWS IoT Jobs
// client that takes the jobs the release Lambda (lambdas/release) creates
// for the device's thing groups, hands each job document to the deployment
// engine (edge/deployment) as the thing group's deployment, and reports
// the outcome on the job execution and on topics.DeploymentStatus.
//
//	Options → New (validates; starts nothing) → Start (subscribes, opens the
//	bucket; one goroutine) → Shutdown
//
// # Topics
//
// Plain, non-namespaced job topics, because the release Lambda creates
// plain jobs (no namespaceId) and IoT Core (and devcloud) shows a job only
// through the topics of its namespace. Greengrass's own nucleus uses the
// aws-gg-deployment namespace for the jobs Greengrass's CreateDeployment
// makes; Sward's jobs are not those.
//
//	$aws/things/<thing>/jobs/notify-next            the service says the next job changed
//	$aws/things/<thing>/jobs/start-next[/accepted|/rejected]
//	$aws/things/<thing>/jobs/<jobId>/update[/accepted|/rejected]
//
// Every request carries a clientToken; the answer with that token is the
// request's. Updates go through the link's durable spool (QoS 1), so they
// leave in order, even across an outage; start-next is sent with QoS 0,
// only while connected (it is sent again on every connection), so an
// idle device's spool stays empty. A start-next that overtakes a spooled
// update finds the same execution again and resends the recorded outcome,
// which IoT Jobs then refuses as terminal: the job ends either way.
//
// # One job at a time
//
// Start-next is sent when the service starts, whenever the link connects
// again, on every notify-next, and after each job ends, until it answers
// that nothing is pending: jobs queued while the device was offline are
// taken on reconnect, in the order IoT Jobs queued them (of one thing
// group's releases only the latest is still queued: the release Lambda
// cancels the job a release supersedes). For each
// execution:
//
//  1. the job document is decoded with shared/deployment's Decode (strict;
//     formatVersion must be one this Sward reads); a document the device
//     cannot read is REJECTED with the reason, and nothing changes;
//  2. the recipe of every component of the document is downloaded from its
//     recipeSource (S3 GetObject with the token exchange credentials),
//     parsed, and checked to be that component at that version; a missing
//     or bad recipe is REJECTED too, while S3 being unreachable is not the
//     job's fault: the execution stays IN_PROGRESS and the job is tried
//     again after RetryDelay (so is one IoT Jobs did not answer);
//  3. the job↔deployment mapping is written to the sward_jobs KV bucket
//     (deleted again once IoT Jobs has the outcome);
//  4. IN_PROGRESS is sent with expectedVersion (the execution's
//     versionNumber from start-next); an answer that the execution is in a
//     terminal state (the job was canceled, or the thing removed from it)
//     means the job is not applied. A VersionMismatch whose executionState
//     is not terminal is retried once with the version it gives;
//  5. the document is submitted to the engine as the thing group's
//     deployment (deploymentId = the job id; <jobId>-<executionNumber>
//     for a later execution of the same job), the recipes staged in a
//     temporary folder that the engine copies into the component store,
//     as LOCAL_FOLDER deployments do;
//  6. when the deployment ends, the outcome is written to the mapping,
//     then published (the deployment status message, then the terminal
//     update): SUCCEEDED, or FAILED (rolled back or not), or REJECTED for
//     a deployment the engine refused before it started.
//
// statusDetails carries Greengrass's keys, each value at most 1024
// characters: detailed-deployment-status (SUCCESSFUL,
// FAILED_NO_STATE_CHANGE, FAILED_ROLLBACK_NOT_REQUESTED,
// FAILED_ROLLBACK_COMPLETE, FAILED_UNABLE_TO_ROLLBACK, REJECTED),
// deployment-failure-cause (the engine's reason), deployment-error-types
// and deployment-error-stack (JSON lists of error codes, as Greengrass
// writes them). While the deployment downloads artifacts, an IN_PROGRESS
// update at most every ProgressInterval (10 s) adds download-progress,
// "<bytes>/<total> bytes (<percent>%)", Sward's own key; the terminal
// update replaces the details.
//
// # Crashes
//
// Every step is repeated after a restart until the mapping says the
// outcome was sent: start-next returns the device's IN_PROGRESS execution
// first, and the mapping tells whether its deployment was submitted (the
// engine then finishes or rolls it back and the service waits for it) or
// not (steps 1–5 run again). An outcome written to the mapping is sent
// again; an update refused because the execution is already terminal
// ends the job. So no execution stays IN_PROGRESS once the device is
// online again.
//
// # Cancel
//
// A job canceled in the cloud before the device applied it is not
// applied: start-next no longer returns it, or the IN_PROGRESS update of
// step 4 is answered with its terminal state. One canceled while its
// deployment is applied: IoT Jobs sends notify-next naming another
// execution (or none); the service then sends IN_PROGRESS, and a terminal
// answer cancels the deployment in the engine (edge/deployment's Cancel),
// which fails it with the cancel as reason and follows its failure
// handling (rolled back by default). The outcome is reported on the status
// topic; IoT Jobs keeps the execution CANCELED and refuses the terminal
// update, which ends the job on the device. A cancel that arrives while
// the nucleus is down is seen only as that refusal: the deployment has
// then run to its end.
package jobs
