// Package topics owns the names of Sward's AWS IoT Core MQTT topics and the
// IoT rule SQL that reads them. The device (edge/) publishes on these topics,
// the CDK app (infra/) writes the rules and the devices' IoT policy from
// them, and the Lambdas (lambdas/) read what the rules send: one package
// builds them all, so the three cannot drift apart.
//
// # Topics
//
//	sward/<thing>/telemetry/<stream>     device → cloud, a telemetry batch (shared/telemetry)
//	sward/<thing>/alerts                 cloud → device, alerts (shared/telemetry Alert)
//	sward/<thing>/deployments/status     device → cloud, deployment status (shared/deploymentstatus)
//	sward/<thing>/health                 device → cloud, fleet status: component states and versions (shared/fleetstatus)
//
// <thing> is the AWS IoT thing name, which is also the MQTT client id; the
// devices' IoT policy allows each device to publish only under its own
// name (iot:Connection.Thing.ThingName), so the rules can trust topic(2) as
// the sender. <stream> names a telemetry stream of the device.
//
// # Rules
//
// TelemetryRuleSQL, DeploymentStatusRuleSQL and FleetStatusRuleSQL are the exact rule
// statements, with SQLVersion. The telemetry rule base64-encodes the whole
// payload, so a payload that is not JSON still reaches the Lambda, which
// counts it as malformed instead of the rule dropping it unseen.
//
// Deployment status travels on the device topic rather than as IoT Jobs
// events: those events need an account-level setting (UpdateEventConfigurations)
// that has no CloudFormation resource, and the per-device topic is as
// trustworthy as the job execution itself because of the IoT policy above.
package topics
