// Package lambdas is the root of Sward's Go Lambda handlers (aws-lambda-go).
// Each function lives in lambdas/cmd/<name> with a main.go that only wires
// clients into a handler; handlers import shared/ and nothing else of the
// repository.
package lambdas
