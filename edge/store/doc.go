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
// The deployment engine builds on this package; it decides which versions to
// keep and when to collect the rest.
package store
