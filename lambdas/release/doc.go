// Package release is the release Lambda's handler. S3 invokes it for every
// releases/<commit>/release.json written to the artifacts bucket (the
// manifest `sward publish` uploads last, after the recipes and artifacts).
// For each such object Handle
//
//  1. reads and strictly decodes the manifest (shared/release), whose
//     commitId must be the commit in its key, and whose thingGroup must be
//     the group the stack manages (SWARD_THING_GROUP, when set): a
//     manifest for another group is REJECTED with that reason and
//     recorded, not left to IAM's AccessDenied, which would look like an
//     outage and be retried;
//  2. reads every recipe, checks its SHA-256 against the manifest, parses
//     and validates it with shared/recipe, and checks the recipes against
//     the manifest (release.Manifest.CheckRecipes: versions, artifacts
//     listed with the same digests, dependencies satisfied);
//  3. checks that every artifact exists in the bucket with its SHA-256;
//  4. builds the deployment document (shared/deployment, Encode), with
//     recipeSource naming the bucket and releases/<commit>/recipes/ so that
//     devices download the recipes from there, and checks it fits IoT
//     Jobs' 32 KB;
//  5. resolves the thing group's ARN (DescribeThingGroup);
//  6. records the release as IN_PROGRESS in the releases table
//     (lambdas/internal/releasestore), then creates the IoT job
//     release.JobID(commit) for the group, with the manifest's target
//     selection, rollout, abort and timeout settings;
//  7. makes the release its group's current one and cancels the job of
//     the release it supersedes (see Superseding).
//
// A release that fails any check is recorded as REJECTED with every reason
// found, and no job is created. A release already IN_PROGRESS (or
// CANCELED, or SUPERSEDED) is never turned into REJECTED by a later bad
// upload of the same manifest key: the job that exists stays described by
// its record.
//
// # Superseding
//
// As a Greengrass deployment to a thing group replaces the group's
// previous one, a release replaces its group's previous release. Release
// jobs are CONTINUOUS by default, so without this a thing added to the
// group later would get an execution of every past release still in
// progress and deploy them all in turn, broken ones included, and no
// release record would ever leave IN_PROGRESS.
//
// The releases table keeps one item per group, jobId "group#<group>",
// whose currentJobId names the job of the group's current release (no
// ListJobs: it would page through every job of the account). Once the
// release's job exists, the handler reads that item and moves it to the
// release in one DynamoDB transaction of three conditional items: the
// group item, on the condition that it still names the job read (or none);
// the release, on the condition that it is IN_PROGRESS and has no
// supersededBy, recording supersedes = the previous job; and the previous
// release, recording supersededBy = this job. If another release moved the
// pointer in between, the handler reads it again (at most
// maxPointerAttempts times, then the invocation fails and is retried).
// Then it cancels the previous job with CancelJob, reason code
// SWARD_SUPERSEDED, without force: executions QUEUED on devices are
// canceled, those IN_PROGRESS go on and their devices report the outcome
// (the deployment-events Lambda still counts it); things that join the
// group later get no execution of a canceled job. Last it records the
// previous release as SUPERSEDED with reason "superseded by release
// <commit>", unless it has ended otherwise (CANCELED by its abort criteria
// keeps its status and reason). A CancelJob answered InvalidRequest
// (the job has ended: canceled already, or a SNAPSHOT job completed) or
// ResourceNotFound is fine; any other failure fails the invocation.
//
// "Newer" is the order of acceptance: when the handler first records a
// release IN_PROGRESS it stores on it the next number of the group's
// counter (an atomic ADD on the group item; a number claimed by a repeated
// event, whose record is accepted already, is skipped), and the group item
// keeps the current release's number. A release whose number is below the
// current one's never moves the pointer: it cancels its own job and is
// recorded SUPERSEDED by the current release. So a late retry of an older
// release (its first invocation failed before moving the pointer, and a
// newer one was processed meanwhile) cannot take the group back. The
// pointer itself moves by compare-and-swap on the job it names, so of two
// releases racing, exactly one ends current: the one accepted later. A
// release whose supersededBy is set never becomes current again either.
//
// Idempotency: a repeated event of the current release finds the pointer
// naming it and only repeats the cancel of the job its record supersedes
// (done already, or not yet if the first invocation failed in between); a
// repeated event of a superseded release fails the transaction's condition
// and does the same for its own supersedes. Neither cancels anything new.
//
// # Idempotency
//
// S3 delivers events at least once and Lambda retries failed asynchronous
// invocations. The job id is derived from the commit, so a repeated event
// finds the job (DescribeJob, or ResourceAlreadyExistsException from
// CreateJob when two race) and creates nothing; the record is written with
// a condition that keeps an accepted release accepted. The record is
// written before the job is created, so the deployment-events Lambda always
// finds the abort criteria of a job that devices report on.
//
// # Digest checks
//
// An artifact is checked with HeadObject and its stored SHA-256 checksum
// when it has one (ChecksumMode ENABLED): S3 verified that checksum against
// the bytes at upload, so comparing it is as good as hashing, and costs one
// small request however large the artifact. `sward publish` uploads with
// ChecksumAlgorithm SHA256 so this is the normal path. An object without a
// full-object SHA-256 checksum (uploaded by another tool, or a multipart
// upload with composite checksums) is read and hashed instead. Recipes are
// always read, since they must be parsed anyway.
package release
