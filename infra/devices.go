package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiot"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Fixed names of what device provisioning refers to by name: the policy
// attached to each device certificate and the role alias a device's
// credentials provider URL names. They are per account and region, like the
// stack itself.
const (
	devicePolicyName = "SwardDevicePolicy"
	roleAliasName    = "SwardTokenExchangeRoleAlias"
)

// credentialSeconds is how long credentials from the role alias last: an
// hour, the role's default maximum session, which the token exchange service
// refreshes five minutes before expiry.
const credentialSeconds = 3600

// deviceLogGroups is what devices may write logs to: their own groups,
// nothing of the cloud half's.
const deviceLogGroups = "log-group:/sward/devices/*"

// deviceTelemetryPrefix is where a device may write in the telemetry bucket:
// devices/<its thing name>/, the credentials provider's thing name policy
// variable (set from the certificate's thing when the thing name is sent as
// x-amzn-iot-thingname, as the token exchange service does). A stream
// export to the telemetry bucket uses keyPrefix "devices/<thing>/". The
// telemetry Lambda's archive (thing=<thing>/…) is out of devices' reach.
const deviceTelemetryPrefix = "devices/${credentials-iot:ThingName}/"

// thingVar is the IoT policy variable for the connected thing's name; it is
// set only when the client id equals a thing name the certificate is
// attached to.
const thingVar = "${iot:Connection.Thing.ThingName}"

// devices is what a device is: a member of the thing group, holding a
// certificate with the device policy, exchanging it for role credentials.
type devices struct {
	thingGroup    awsiot.CfnThingGroup
	thingGroupArn string
	policy        awsiot.CfnPolicy
	role          awsiam.Role
	roleAlias     awsiot.CfnRoleAlias
}

// newDevices adds the thing group, the token exchange role and its role
// alias, and the device policy.
//
// The token exchange role is what the IoT credentials provider hands a device
// (the nucleus's token exchange service) for its certificate: read the
// artifacts bucket, write telemetry objects, write its logs.
//
// The device policy lets a device connect only with its thing name as client
// id (or <thing>#<n> for its further connections; on AWS the thing policy
// variable resolves on those only when the certificate is attached to the
// thing exclusively, as `sward provision` does), publish telemetry, deployment status and health under
// sward/<thing>/, receive its alerts, use its own shadows and jobs topics,
// and exchange its certificate through the role alias; nothing of another
// thing.
func newDevices(stack awscdk.Stack, st *storage, cfg appConfig) *devices {
	d := &devices{thingGroupArn: thingGroupArn(stack, cfg.ThingGroupName)}
	d.thingGroup = awsiot.NewCfnThingGroup(stack, jsii.String("ThingGroup"), &awsiot.CfnThingGroupProps{
		ThingGroupName: jsii.String(cfg.ThingGroupName),
		ThingGroupProperties: &awsiot.CfnThingGroup_ThingGroupPropertiesProperty{
			ThingGroupDescription: jsii.String("Sward devices: releases published to the artifacts bucket deploy to this group"),
		},
	})

	// The credentials provider may assume the role only for this
	// account's role alias (confused deputy): AWS sets the source ARN to
	// the role alias a device asked for.
	aliasArn := iotArn(stack, "rolealias/"+roleAliasName)
	d.role = awsiam.NewRole(stack, jsii.String("TokenExchangeRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("credentials.iot.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
				"ArnEquals":    map[string]any{"aws:SourceArn": aliasArn},
			},
		}),
		Description: jsii.String("What a Sward device's token exchange service gets for its certificate"),
	})
	d.role.AddToPolicy(allow([]string{"s3:GetObject"}, *st.artifacts.ArnForObjects(jsii.String("*"))))
	// Its own exports only: write, look at what it wrote (HeadObject after
	// an interrupted upload), abort its own multipart uploads.
	d.role.AddToPolicy(allow([]string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}, *st.telemetry.ArnForObjects(jsii.String(deviceTelemetryPrefix + "*"))))
	d.role.AddToPolicy(allow([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
		*stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("logs"), Resource: jsii.String(deviceLogGroups)})))
	suppress(d.role, "AwsSolutions-IAM5",
		"A device downloads whichever artifacts its deployments name; it writes telemetry objects under its own thing's prefix and its own log groups, named at run time",
		objectsOf("ArtifactsBucket"), &cdknag.RegexAppliesTo{Regex: jsii.String("/^Resource::<TelemetryBucket[0-9A-F]{8}\\.Arn>\\/devices\\/<credentials-iot:ThingName>\\/\\*$/")},
		resourceFinding("arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"+deviceLogGroups))

	d.roleAlias = awsiot.NewCfnRoleAlias(stack, jsii.String("TokenExchangeRoleAlias"), &awsiot.CfnRoleAliasProps{
		RoleAlias:                 jsii.String(roleAliasName),
		RoleArn:                   d.role.RoleArn(),
		CredentialDurationSeconds: jsii.Number(credentialSeconds),
	})

	own := func(kind, topic string) string { return iotArn(stack, kind+"/"+topic) }
	shadow := "$aws/things/" + thingVar + "/shadow/*"
	jobs := "$aws/things/" + thingVar + "/jobs/*"
	alerts := "sward/" + thingVar + "/alerts"
	d.policy = awsiot.NewCfnPolicy(stack, jsii.String("DevicePolicy"), &awsiot.CfnPolicyProps{
		PolicyName: jsii.String(devicePolicyName),
		PolicyDocument: map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{
				map[string]any{
					"Effect": "Allow",
					"Action": "iot:Connect",
					// The thing name, and thing#2, #3, …: the further
					// connections edge/iotcore opens beyond one
					// connection's subscription quota (Greengrass's
					// names). Never another thing's name (no bare `*`
					// suffix, as "pi-1*" would match "pi-10").
					"Resource": []any{own("client", thingVar), own("client", thingVar+"#*")},
					// Only a certificate attached to that thing.
					"Condition": map[string]any{"Bool": map[string]any{"iot:Connection.Thing.IsAttached": "true"}},
				},
				map[string]any{
					"Effect": "Allow",
					"Action": "iot:Publish",
					"Resource": []any{
						own("topic", "sward/"+thingVar+"/telemetry/*"),
						own("topic", "sward/"+thingVar+"/deployments/status"),
						own("topic", "sward/"+thingVar+"/health"),
						own("topic", shadow),
						own("topic", jobs),
					},
				},
				map[string]any{
					"Effect":   "Allow",
					"Action":   "iot:Subscribe",
					"Resource": []any{own("topicfilter", alerts), own("topicfilter", shadow), own("topicfilter", jobs)},
				},
				map[string]any{
					"Effect":   "Allow",
					"Action":   "iot:Receive",
					"Resource": []any{own("topic", alerts), own("topic", shadow), own("topic", jobs)},
				},
				map[string]any{
					"Effect":   "Allow",
					"Action":   "iot:AssumeRoleWithCertificate",
					"Resource": d.roleAlias.AttrRoleAliasArn(),
				},
			},
		},
	})
	return d
}
