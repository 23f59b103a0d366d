// Package lambdas runs the template's Lambda functions as real processes:
// each function's `bootstrap` (from `make lambdas GOARCH=amd64`) under the
// Lambda runtime interface emulator (aws-lambda-rie), with the template's
// environment plus the AWS_* settings that point its SDK at devcloud.
//
// Instances. An instance is one emulator process with its bootstrap; it
// runs one invocation at a time, as a Lambda execution environment does.
// A function keeps its idle instances warm and reuses the one used last;
// it starts a new instance (a cold start) only when every instance is busy,
// up to Options.MaxInstances, beyond which invocations wait. An instance
// whose process died is dropped and replaced at the next invocation.
//
// Asynchronous invocation (Event), as Lambda does it: InvokeAsync only
// queues the event and answers at once; it fails only when the function
// cannot take events at all (unknown function: ResourceNotFoundException;
// its code or the emulator missing: the function is in the Failed state,
// ResourceConflictException; the queue full: TooManyRequestsException) —
// which is what an IoT rule's lambda action sees and hands to its
// errorAction. A function error (the handler returned an error, panicked,
// timed out or its init failed) is retried twice, after 1 and then 2
// minutes (Options.RetryDelays, `up --lambda-retry-delays`: one retry per
// delay, at most two); after the last attempt the event is dropped and
// logged, since devcloud, like a function without an
// on-failure destination or dead-letter queue, sends it nowhere. Lambda's
// maximum event age (6 hours) is not applied: the queue lives in memory
// and ends with devcloud.
//
// Every invocation is a line of the request log (function, source,
// request id, attempt, duration, result); what the emulator and the
// function print goes to LogDir/<function name>.log and, line by line, to
// Options.Logs for the function's log group, under a stream per instance
// named as Lambda names them (<date>/[$LATEST]<id>).
package lambdas
