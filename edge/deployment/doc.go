// Package deployment owns the deployment engine: which components at which
// versions and configurations should run, and getting the supervisor there
// and back again. Resolve picks versions from root components and
// dependency ranges.
package deployment
