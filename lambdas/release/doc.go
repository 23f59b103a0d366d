// Package release is the release Lambda's handler. S3 invokes it for every
// releases/<commit>/release.json written to the artifacts bucket (the
// manifest `sward publish` uploads last, after the recipes and artifacts).
// For each such object Handle
//
//  1. reads and strictly decodes the manifest (shared/release), whose
//     commitId must be the commit in its key;
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
//     selection, rollout, abort and timeout settings.
//
// A release that fails any check is recorded as REJECTED with every reason
// found, and no job is created. A release already IN_PROGRESS (or
// CANCELED) is never turned into REJECTED by a later bad upload of the same
// manifest key: the job that exists stays described by its record.
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
