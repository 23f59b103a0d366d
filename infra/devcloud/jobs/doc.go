// Package jobs is devcloud's AWS IoT Jobs: jobs and job executions, kept
// as files under DIR/jobs so they survive a restart (each write synced and
// renamed into place before it is acknowledged); the control plane's job
// operations over HTTP as aws-sdk-go-v2's iot client calls them; and the
// device MQTT API on $aws/things/<thing>/jobs/..., with the Greengrass
// namespaced topics, answered on /accepted and /rejected to the requesting
// client only, and notify / notify-next pushed when a thing's pending list
// or its next execution changes.
//
// The wire facts (topics, payloads, transitions, rejected codes) are
// ../shared/reference/aws-iot-wire.md's. The execution state diagram is on
// Status (model.go). What devcloud reads into what AWS leaves open:
//   - a job with a namespaceId is seen only through the namespace's topics
//     ($aws/things/<t>/jobs/<jobId>/namespace-<ns>/get|update, notify on
//     …/jobs/notify-namespace-<ns> and …/jobs/notify-next-namespace-<ns>),
//     a job without one only through the plain topics;
//   - a device may set IN_PROGRESS, SUCCEEDED, FAILED or REJECTED from
//     QUEUED or IN_PROGRESS; another status is InvalidRequest, any update
//     of a terminal execution InvalidStateTransition;
//   - the abort criteria count an execution as executed once it is
//     SUCCEEDED, FAILED, REJECTED or TIMED_OUT; meeting one cancels the
//     QUEUED executions and the job, IN_PROGRESS ones go on (as AWS
//     documents);
//   - a thing that leaves a CONTINUOUS job's group has its QUEUED
//     execution REMOVED, and gets a new one (executionNumber + 1) if it
//     comes back; a thing that joins gets one within a second of a
//     group change made through devcloud's control plane (and within
//     Options.RefreshInterval of one made straight to moto).
//
// Not done: rollouts (every execution is queued at once), retries
// (jobExecutionsRetryConfig is kept, never acted on), presigned URL
// placeholders, job templates, scheduling, UpdateJob, the job and
// job-execution events on $aws/events/..., and the HTTP device API
// (iot-jobs-data).
package jobs
