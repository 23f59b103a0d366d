// Package cloud tests the Lambda handlers of lambdas/ against moto_server
// (S3, DynamoDB, the IoT control plane and data plane), in process and, for
// the telemetry Lambda, as a real linux bootstrap under the Lambda runtime
// interface emulator. One moto_server serves the package (TestMain); each
// test names its own buckets, tables, groups and things. Without
// moto_server on PATH the package fails, naming it (`make tools` installs
// it).
package cloud
