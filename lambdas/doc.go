// Package lambdas is the root of Sward's Go Lambda handlers (aws-lambda-go).
// Each function has a handler package (telemetry, release,
// deploymentevents) whose Handler struct tests call directly, and a
// lambdas/cmd/<name>/main.go that only reads the environment and wires
// AWS clients into it. lambdakit holds what they share (JSON logging,
// environment, the internal-error rule). Handlers import shared/ and
// nothing else of the repository; README.md is the contract with infra/.
package lambdas
