// Package devcloud is the SwardCloud stack on one machine: what a Sward
// device and the Sward Lambdas talk to, driven by the CloudFormation
// template `make synth` writes. It runs moto_server for the AWS APIs moto
// serves (S3, DynamoDB, the IoT control plane, Secrets Manager, CloudWatch
// Logs), its own certificate authority, the IoT data endpoint (package
// iotcore) enforcing the template's device policy with the Device Shadow
// service and IoT Jobs' device API behind it (packages shadows and jobs),
// the IoT credentials provider (package credentials) for the template's
// role aliases, the IoT control plane (controlplane.go: the job
// operations, the `devcloud status` report of package status, everything
// else passed to moto), the template's buckets, tables and log groups in
// moto (package resources), its Lambdas as processes under the runtime
// interface emulator (package lambdas), its topic rules with their actions
// (package rules), its S3 → Lambda notifications through an S3 endpoint
// in front of moto (package s3events), and a DynamoDB endpoint in front of
// moto that passes one request at a time, since moto's transactions are
// not isolated from concurrent requests (dynamodb.go).
//
// The data folder DIR holds everything that survives a restart:
//
//	DIR/devcloud.json              endpoints, CA file, credentials (Info), rewritten by each `up`
//	DIR/ca/ca.pem, ca.key          the CA, created on the first `up`
//	DIR/things/<name>/thing.json   the thing: groups, certificate id and ARN, policies, status
//	DIR/shadows/<thing>/<shadow>.json  the cloud shadows ($classic.json: the classic one)
//	DIR/jobs/<jobId>/job.json, executions/<thing>.json  the IoT jobs and their executions
//	DIR/things/<name>/device.pem.crt, private.pem.key, AmazonRootCA1.pem
//	                               what the nucleus's cloud configuration points at
//	                               (certificateFilePath, privateKeyPath, rootCaPath)
//	DIR/moto-recording.jsonl       the requests to the moto devcloud started, replayed by the next
//	DIR/requests.log               each rule fired, action, S3 notification, Lambda invocation
//	DIR/lambda/<function>.log      what each function and its emulator print
//
// moto keeps its state in memory; devcloud replays the recording into the
// moto it starts, and each `up` registers the template's policies, thing
// groups and resources and every thing of DIR/things when moto lacks them
// (a --moto-endpoint moto may be new).
package devcloud
