package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// Telemetry archive lifecycle. Objects move to Standard-IA after
// telemetryInfrequentAfter (30 days is the earliest S3 allows) because
// telemetry is read mostly in its first weeks, and to Glacier Instant
// Retrieval after telemetryArchiveAfter, which still serves a read in
// milliseconds for the occasional look back. Nothing expires: the archive is
// the customer's data. S3 does not transition objects under 128 KB by
// default, so per-message objects stay in Standard, where they are cheapest.
const (
	telemetryInfrequentAfter = 30
	telemetryArchiveAfter    = 90
	// abortUploadsAfter cleans up multipart uploads a crashed writer left
	// behind; a week outlives any real upload.
	abortUploadsAfter = 7
	// accessLogsExpireAfter keeps the buckets' server access logs for a
	// year: long enough to answer "who downloaded or overwrote this" about
	// any release still on devices, after which they only cost.
	accessLogsExpireAfter = 365
	// noncurrentTelemetryExpireAfter removes overwritten archive objects (a
	// device's re-sent message lands on the same key) a month after: time
	// to recover from a bad write, without paying for every re-send.
	noncurrentTelemetryExpireAfter = 30
)

// historyTTLAttribute is the device status table's TTL attribute, epoch
// seconds, which the deployment-events Lambda sets on history rows only
// (lambdas/deploymentevents.AttrExpiresAt).
const historyTTLAttribute = "expiresAt"

// Server access log prefixes in the access logs bucket, one per bucket.
const (
	artifactsAccessLogPrefix = "artifacts/"
	telemetryAccessLogPrefix = "telemetry/"
)

// storage is the state of the cloud half: two buckets (and the bucket of
// their access logs) and three tables.
type storage struct {
	// artifactsBucketName is the artifacts bucket's name as a template
	// expression that does not refer to the bucket resource: the release
	// Lambda's permission and policy use it, because the bucket's own
	// notification refers to that Lambda (see addReleaseNotification).
	artifactsBucketName *string
	artifacts           awss3.Bucket
	telemetry           awss3.Bucket
	accessLogs          awss3.Bucket
	releases            awsdynamodb.Table
	deviceStatus        awsdynamodb.Table
	telemetryState      awsdynamodb.Table
}

// newStorage adds the buckets and tables to stack.
//
// The artifacts bucket is where `sward publish` uploads recipes, artifacts
// and release manifests and where devices download from. It is versioned (an
// overwritten or deleted release can be recovered), encrypted with S3-managed
// keys, closed to public access, reachable only over TLS, and retained when
// the stack is deleted, because devices may still reference its objects. Its
// name is fixed per account and region, sward-artifacts-<account>-<region>,
// so that the S3 → release Lambda notification can be plain CloudFormation
// (see addReleaseNotification).
//
// The telemetry bucket is the telemetry Lambda's archive, with the same
// protections (versioned too) and a lifecycle to colder storage; retained,
// since it is data. Both log their requests to the access logs bucket.
//
// The device status table's history rows expire (TTL attribute expiresAt,
// set by the deployment-events Lambda historyRetentionDays after receipt).
//
// The releases and device status tables are retained: they are the rollout
// history (which commit went to which devices and how each one fared), which
// cannot be rebuilt. The telemetry state table (the telemetry Lambda's
// per-stream working state) is destroyed with the stack: the next readings
// rebuild it, at worst repeating one alert. All three have point-in-time
// recovery.
func newStorage(stack awscdk.Stack) *storage {
	s := &storage{
		artifactsBucketName: awscdk.Fn_Join(jsii.String("-"), &[]*string{
			jsii.String("sward-artifacts"), stack.Account(), stack.Region(),
		}),
	}
	// S3 delivers access logs with SSE-S3 only (not KMS), and the bucket
	// policy the CDK writes (feature flag serverAccessLogsUseBucketPolicy)
	// admits the logging service for this account's two buckets only.
	s.accessLogs = awss3.NewBucket(stack, jsii.String("AccessLogsBucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("access-logs-expire"),
			Expiration: awscdk.Duration_Days(jsii.Number(accessLogsExpireAfter)),
		}},
	})
	// Logging the log bucket's own requests would log its log deliveries.
	suppress(s.accessLogs, "AwsSolutions-S1", "This is the access logs bucket; logging its own requests would log each log delivery in a loop")
	s.artifacts = awss3.NewBucket(stack, jsii.String("ArtifactsBucket"), &awss3.BucketProps{
		BucketName:             s.artifactsBucketName,
		ServerAccessLogsBucket: s.accessLogs,
		ServerAccessLogsPrefix: jsii.String(artifactsAccessLogPrefix),
		Versioned:              jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
	})
	s.telemetry = awss3.NewBucket(stack, jsii.String("TelemetryBucket"), &awss3.BucketProps{
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: s.accessLogs,
		ServerAccessLogsPrefix: jsii.String(telemetryAccessLogPrefix),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("telemetry-to-colder-storage"),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(abortUploadsAfter)),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(noncurrentTelemetryExpireAfter)),
			Transitions: &[]*awss3.Transition{
				{StorageClass: awss3.StorageClass_INFREQUENT_ACCESS(), TransitionAfter: awscdk.Duration_Days(jsii.Number(telemetryInfrequentAfter))},
				{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: awscdk.Duration_Days(jsii.Number(telemetryArchiveAfter))},
			},
		}, {
			Id:         jsii.String("athena-results-expire"),
			Prefix:     jsii.String(athenaResultsPrefix),
			Expiration: awscdk.Duration_Days(jsii.Number(athenaResultsExpireAfter)),
		}},
	})
	s.releases = newTable(stack, "ReleasesTable", "jobId", "", "", awscdk.RemovalPolicy_RETAIN)
	s.deviceStatus = newTable(stack, "DeviceStatusTable", "thingName", "sortKey", historyTTLAttribute, awscdk.RemovalPolicy_RETAIN)
	s.telemetryState = newTable(stack, "TelemetryStateTable", "pk", "", "", awscdk.RemovalPolicy_DESTROY)
	return s
}

// newTable adds an on-demand table (traffic follows device activity, bursty
// and small, which on-demand prices better than provisioned capacity) with
// string keys and point-in-time recovery. sortKey may be "", and so may ttl,
// the time-to-live attribute.
func newTable(stack awscdk.Stack, id, partitionKey, sortKey, ttl string, removal awscdk.RemovalPolicy) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(partitionKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: removal,
	}
	if ttl != "" {
		props.TimeToLiveAttribute = jsii.String(ttl)
	}
	if sortKey != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(sortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	return awsdynamodb.NewTable(stack, jsii.String(id), props)
}
