// Package store owns the component store under the nucleus root folder: the
// artifacts of every installed component version, copied from an artifact
// folder laid out like greengrass-cli's (<dir>/<Name>/<Version>/<file>) or
// downloaded from S3, digest-checked, unarchived and given the permissions
// their recipe asks for.
//
// Layout (Greengrass's, so paths in docs and recipes carry over):
//
//	<root>/packages/artifacts/<Name>/<Version>/<file>
//	<root>/packages/artifacts-unarchived/<Name>/<Version>/<archive name without .zip>/...
//	<root>/packages/recipes/<Name>-<Version>.recipe.<yaml|json>
//	<root>/packages/downloads/<Name>/<Version>/<file>[.partial, .partial.json]  (Sward's)
//
// A deployment's artifacts go through Fetch, then Install, before anything
// runs. Fetch refuses greengrass: and docker: URIs (ErrUnsupportedArtifact:
// Sward installs s3:// and file:), then takes every s3:// artifact the
// artifact folder does not hold from S3 through a Downloader
// (edge/artifacts): sizes first (a missing or forbidden object fails
// before any byte moves), checked with the store's size on disk against
// Options.MaxSizeBytes (Greengrass's componentStoreMaxSizeBytes, 10 GB by
// default; ErrStoreFull), then the downloads, resumable across cuts and
// restarts, each checked against the recipe's SHA-256 Digest, which a
// downloaded artifact must have (a mismatch is ErrDigestMismatch naming
// the artifact and both digests, and the file is deleted). Progress goes
// to the caller (the deployment's status). Install moves a download into
// place, or copies a local file, and checks the digest again as it reads.
//
// What a deployment may make the store read and write is bounded: an
// artifact's file, symbolic links followed, must lie in the recipe's folder
// or the deployment's artifact folder (file:/etc/shadow is refused with
// ErrOutsideArtifactFolders), and a ZIP artifact unpacks to at most
// MaxUnarchivedBytes (2 GiB) in at most MaxUnarchivedEntries (100,000)
// entries (ErrArchiveTooLarge), checked before anything is written.
//
// The deployment engine builds on this package; it decides which versions to
// keep and when to collect the rest. It keeps the previous set's versions
// (Collect's keep), so a rollback runs what the store holds and downloads
// nothing; collection also removes downloads left for other versions
// (partial ones of a deployment that failed).
//
// Files: store.go (options, Install, the checks), fetch.go (Downloader,
// Fetch, the size bound), recipes.go (recipes, Collect).
package store
