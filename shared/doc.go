// Package shared is the root of the Go packages that both the device (edge/)
// and the cloud (lambdas/, infra/) use: recipe (the recipe model),
// deployment (the deployment document, which is also the IoT Job document),
// release (the release manifest), topics (topic names and rule SQL),
// telemetry, deploymentstatus and fleetstatus (what devices publish), ipc
// (the IPC wire contract), credentials (the IoT credentials provider's and
// the SDKs' container credentials documents), strictjson (the strict
// decoder of the versioned documents).
// Packages under shared/ import nothing else from this repository and no AWS
// SDK; only ipc/client imports NATS, being the Go client components use.
package shared
