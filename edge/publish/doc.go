// Package publish releases a folder of recipes to a thing group through the
// SwardCloud stack's artifacts bucket (`sward publish`), and reads back how
// a release is doing (`sward release status`), with the caller's AWS
// credentials.
//
// # What Publish does
//
//  1. Refuses a dirty git working tree, and a Commit other than the one
//     checked out (unless AllowDirty); the commit id is Commit or
//     `git rev-parse HEAD`. Outside a repository, Commit and AllowDirty
//     are both needed.
//  2. Resolves the bucket, group and releases table from the stack's
//     outputs when they are not given.
//  3. Loads every recipe under the recipes folder (shared/recipe.LoadDir).
//     Each s3: or file: artifact is found on this machine: a file: URI names
//     the file (relative ones from the recipe's folder); any other is
//     <artifacts>/<Name>/<Version>/<file> (the layout `make artifacts`
//     writes), else <file> beside the recipe. Its base64 SHA-256 becomes
//     the recipe's Digest and its URI
//     s3://<bucket>/artifacts/<Name>/<Version>/<file>. greengrass: and
//     docker: artifacts are left as they are.
//  4. Reads the group's last release (below) and compares: a component
//     whose version is the same as there but whose recipe or artifacts
//     differ is refused (devices that cached the version would keep the old
//     one); nothing changed and not All is "nothing to publish".
//  5. Uploads the artifacts with ChecksumAlgorithm SHA256 (S3 verifies the
//     bytes; the release Lambda compares the checksum), skipping objects
//     already there with the same SHA-256 and refusing ones there with
//     another; then the rewritten recipes at release.RecipeKey; then, LAST,
//     the manifest at release.ManifestKey, the release Lambda's trigger, so
//     a half-uploaded release never starts; then the last-release marker.
//
// # One artifact folder, one platform
//
// The artifact folder holds one build: a recipe whose manifests use the
// same file name for several architectures (the samples' one linux
// manifest for amd64 and aarch64) gets that one file for all of them.
// Publish the build for the devices' architecture (the release workflow
// builds arm64), or give each architecture's manifest its own file name.
//
// # Permissions
//
// The caller needs, on the artifacts bucket, s3:GetObject and s3:PutObject
// under artifacts/ and releases/, and s3:ListBucket (without it S3 answers
// a HeadObject or GetObject of a missing key with 403, not 404);
// cloudformation:DescribeStacks on the stack when the bucket or group is
// read from it. `sward release status` needs dynamodb:GetItem on the
// releases table and iot:DescribeJob and iot:ListJobExecutionsForJob.
//
// # The release holds every component
//
// A thing group deployment is the group's whole set: a device removes the
// components a newer deployment of its group leaves out. So every release
// lists every recipe of the folder; "changed" decides whether there is
// anything to release, and which artifacts are new (the others are found
// in the bucket with the same digest and skipped).
//
// # The last release
//
// After the manifest, Publish writes the marker object LastReleaseKey(group)
// ({"commitId": …}); the next Publish reads it and the manifest it names.
// A marker, not a listing of releases/: one GET, however many releases the
// bucket holds, and independent of S3's listing order. The marker names the
// last release published, whether the release Lambda accepted it or not:
// a component version, once published, is fixed (the artifact objects stay
// in the bucket), as Greengrass's CreateComponentVersion refuses a version
// that exists; fix a rejected release under a new version. Two publishers racing on one group are not
// serialized: run one publisher per group (the release workflow does).
package publish
