// Package deploymentstatus owns the message a device publishes on
// sward/<thing>/deployments/status when a cloud deployment (an IoT Job)
// changes state on it, and the event the deployment status IoT rule hands
// the deployment-events Lambda.
//
// # The message (device → cloud)
//
//	{"formatVersion": 1,
//	 "jobId": "sward-3f2a…",
//	 "status": "FAILED",
//	 "detail": "ROLLED_BACK",
//	 "reason": "component com.example.A is BROKEN: run exited 1",
//	 "timestamp": 1767225600000}
//
// status is an IoT Jobs execution status a device may set: IN_PROGRESS,
// SUCCEEDED, FAILED or REJECTED (FAILED: the deployment ran and failed;
// REJECTED: the device refused it before changing anything — an invalid
// document, a missing recipe or artifact). detail is optional: the device
// engine's finer state from shared/deployment (ROLLED_BACK, FAILED, …), as
// Greengrass reports detailed-deployment-status. reason is optional text
// for people, at most 1024 characters (the IoT Jobs statusDetails limit).
// timestamp is when the device's state changed, epoch milliseconds; the
// cloud orders one device's messages by it. FromDeployment builds the
// message from the engine's deployment.Status.
//
// # The rule event (IoT rule → deployment-events Lambda)
//
// The message with "thing" (topic(2)) and "receivedAt" (epoch ms) added, as
// shared/topics.DeploymentStatusRuleSQL produces it. A device message must
// therefore not carry those two fields itself; DecodeMessage refuses them
// as unknown fields, like any other.
//
// Both decode strictly (shared/strictjson) and are at most MaxMessageSize
// bytes.
package deploymentstatus
