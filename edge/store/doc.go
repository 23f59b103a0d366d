// Package store owns the component store under the nucleus root folder: the
// artifacts of every installed component version, copied from an artifact
// folder laid out like greengrass-cli's (<dir>/<Name>/<Version>/<file>),
// digest-checked, unarchived and given the permissions their recipe asks for.
//
// Layout (Greengrass's, so paths in docs and recipes carry over):
//
//	<root>/packages/artifacts/<Name>/<Version>/<file>
//	<root>/packages/artifacts-unarchived/<Name>/<Version>/<archive name without .zip>/...
//
// What a deployment may make the store read and write is bounded: an
// artifact's file, symbolic links followed, must lie in the recipe's folder
// or the deployment's artifact folder (file:/etc/shadow is refused with
// ErrOutsideArtifactFolders), and a ZIP artifact unpacks to at most
// MaxUnarchivedBytes (2 GiB) in at most MaxUnarchivedEntries (100,000)
// entries (ErrArchiveTooLarge), checked before anything is written.
//
// The deployment engine builds on this package; it decides which versions to
// keep and when to collect the rest.
package store
