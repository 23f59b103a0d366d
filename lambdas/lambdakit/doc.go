// Package lambdakit is what every Sward Lambda's main and handler share: the
// JSON logger (one line per record on stdout, with the service and the
// Lambda request id), required environment variables with errors that name
// the fix, the AWS configuration, and the rule that internal errors are
// logged in full but never returned to the caller.
package lambdakit
