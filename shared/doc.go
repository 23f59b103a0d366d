// Package shared is the root of the Go packages that both the device (edge/)
// and the cloud (lambdas/, infra/) use: the recipe model, deployment and
// release documents, topic and subject names. Packages under shared/ import
// nothing else from this repository and avoid AWS and NATS imports.
package shared
