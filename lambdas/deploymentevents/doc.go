// Package deploymentevents is the deployment-events Lambda's handler. The
// deployment status IoT rule (shared/topics.DeploymentStatusRuleSQL)
// invokes it with each status message a device publishes on
// sward/<thing>/deployments/status (shared/deploymentstatus). Handle
//
//  1. decodes the event strictly, logging and dropping what is malformed;
//
//  2. records the message in the device's status history and moves the
//     device's current status for the job, in one DynamoDB transaction with
//     the release's per-status device counts (releases table, see
//     lambdas/internal/releasestore), so the counts always equal the number
//     of devices in each status;
//
//  3. stops the rollout (iot CancelJob) when the release's abort criteria
//     (the manifest's, shared/release.AbortCriterion.Exceeded) are met by
//     the counts, and records the release as CANCELED with the reason. IoT
//     Jobs applies the same criteria itself; this catches what it cannot
//     see, since with the device topic the executions' own statuses are not
//     what the devices report here, and it works the same under moto.
//
// # The device status table
//
//	thingName S (partition key), sortKey S (sort key)
//	  history#<jobId>#<timestamp, 13 digits>#<status>   one item per message
//	  job#<jobId>                                       the device's current status
//	  fleet                                             the device's components (fleet status)
//
// with attributes jobId, status, detail, reason, timestamp (device clock,
// epoch ms) and receivedAt (IoT Core's clock). A thing's history for a job
// is the sort key range history#<jobId>#, in time order.
//
// # Fleet status
//
// The fleet status rule (shared/topics.FleetStatusRuleSQL) invokes the
// same handler with each fleet status message (shared/fleetstatus) a
// device's nucleus publishes on sward/<thing>/health; an event with a
// "trigger" is one. The item (thing, "fleet") then holds the message's
// components (componentName, version, state, reason), overallDeviceStatus,
// trigger, sequenceNumber, timestamp and receivedAt, unless it already
// holds a newer message (by the device's timestamp): that one is STALE.
//
// # Ordering and duplicates
//
// A message is a duplicate when its history item exists (same thing, job,
// timestamp and status): it changes nothing. A device's current status only
// moves forward: a message older than the current one (by the device's
// timestamp; a final status wins a tie) is kept in the history but changes
// neither the current status nor the counts, and a final status (SUCCEEDED,
// FAILED, REJECTED) is never left, as IoT Jobs freezes final executions.
// Concurrent messages of one device are serialised by a condition on the
// current item: the loser reads again. The abort check runs on every
// message, duplicates included, so a retry after a failed CancelJob
// completes it.
package deploymentevents
