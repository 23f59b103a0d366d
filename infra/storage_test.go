package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

var privateAndEncrypted = map[string]any{
	"BucketEncryption": map[string]any{
		"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
		},
	},
	"PublicAccessBlockConfiguration": map[string]any{
		"BlockPublicAcls":       true,
		"BlockPublicPolicy":     true,
		"IgnorePublicAcls":      true,
		"RestrictPublicBuckets": true,
	},
}

func TestBothBucketsAreEncryptedAndPrivate(t *testing.T) {
	defaultTemplate(t).AllResourcesProperties(jsii.String("AWS::S3::Bucket"), privateAndEncrypted)
}

func TestArtifactsBucketIsVersionedWithANamePerAccountAndRegion(t *testing.T) {
	props := resource(t, "ArtifactsBucket")["Properties"].(map[string]any)
	if got := render(props["VersioningConfiguration"].(map[string]any)["Status"]); got != "Enabled" {
		t.Errorf("artifacts bucket versioning = %s, want Enabled", got)
	}
	// The release notification's permission is scoped to this name.
	if got, want := render(props["BucketName"]), "sward-artifacts-{AWS::AccountId}-{AWS::Region}"; got != want {
		t.Errorf("artifacts bucket name = %s, want %s", got, want)
	}
}

func TestBucketsAndHistoryTablesAreRetainedAndTelemetryStateIsNot(t *testing.T) {
	for id, want := range map[string]string{
		"ArtifactsBucket":     "Retain",
		"TelemetryBucket":     "Retain",
		"ReleasesTable":       "Retain",
		"DeviceStatusTable":   "Retain",
		"TelemetryStateTable": "Delete",
	} {
		r := resource(t, id)
		if r["DeletionPolicy"] != want || r["UpdateReplacePolicy"] != want {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want both %s", id, r["DeletionPolicy"], r["UpdateReplacePolicy"], want)
		}
	}
}

func TestBothBucketPoliciesDenyRequestsWithoutTLS(t *testing.T) {
	tmpl := defaultTemplate(t)
	for _, bucket := range []string{"ArtifactsBucket", "TelemetryBucket"} {
		tmpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"Bucket": map[string]any{"Ref": logicalID(t, bucket)},
			"PolicyDocument": map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{
					map[string]any{
						"Effect":    "Deny",
						"Principal": map[string]any{"AWS": "*"},
						"Action":    "s3:*",
						"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						// The bucket itself and every object in it.
						"Resource": []any{
							map[string]any{"Fn::GetAtt": []any{logicalID(t, bucket), "Arn"}},
							map[string]any{"Fn::Join": assertions.Match_AnyValue()},
						},
					},
				}),
			},
		})
	}
}

func TestTelemetryBucketMovesObjectsToColderStorage(t *testing.T) {
	defaultTemplate(t).HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{map[string]any{
			"Id":                             "telemetry-to-colder-storage",
			"Status":                         "Enabled",
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": abortUploadsAfter},
			"Transitions": []any{
				map[string]any{"StorageClass": "STANDARD_IA", "TransitionInDays": telemetryInfrequentAfter},
				map[string]any{"StorageClass": "GLACIER_IR", "TransitionInDays": telemetryArchiveAfter},
			},
			"NoncurrentVersionExpiration": map[string]any{"NoncurrentDays": noncurrentTelemetryExpireAfter},
		}})},
	})
	if _, ok := resource(t, "TelemetryBucket")["Properties"].(map[string]any)["LifecycleConfiguration"]; !ok {
		t.Error("the lifecycle rule is not on the telemetry bucket")
	}
}

func TestTablesHaveTheContractKeysOnDemandAndPointInTimeRecovery(t *testing.T) {
	tmpl := defaultTemplate(t)
	hash := func(name string) map[string]any { return map[string]any{"AttributeName": name, "KeyType": "HASH"} }
	str := func(name string) map[string]any { return map[string]any{"AttributeName": name, "AttributeType": "S"} }
	for id, keys := range map[string][]any{
		"ReleasesTable":       {hash("jobId")},
		"DeviceStatusTable":   {hash("thingName"), map[string]any{"AttributeName": "sortKey", "KeyType": "RANGE"}},
		"TelemetryStateTable": {hash("pk")},
	} {
		attrs := []any{}
		for _, k := range keys {
			attrs = append(attrs, str(k.(map[string]any)["AttributeName"].(string)))
		}
		tmpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"Properties": map[string]any{
				"KeySchema":                        keys,
				"AttributeDefinitions":             attrs,
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			},
		})
		if got := resource(t, id)["Properties"].(map[string]any)["KeySchema"]; render(got) != render(keys) {
			t.Errorf("%s key schema = %s, want %s", id, render(got), render(keys))
		}
	}
}

func TestArtifactsAndTelemetryBucketsLogAccessToTheAccessLogsBucket(t *testing.T) {
	for bucket, prefix := range map[string]string{"ArtifactsBucket": artifactsAccessLogPrefix, "TelemetryBucket": telemetryAccessLogPrefix} {
		props := resource(t, bucket)["Properties"].(map[string]any)
		if got, want := render(props["LoggingConfiguration"]), "map[DestinationBucketName:{AccessLogsBucket} LogFilePrefix:"+prefix+"]"; got != want {
			t.Errorf("%s LoggingConfiguration = %s, want %s", bucket, got, want)
		}
	}
	// S3's logging service may write there, for this account's buckets.
	defaultTemplate(t).HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
		"Bucket": map[string]any{"Ref": logicalID(t, "AccessLogsBucket")},
		"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "logging.s3.amazonaws.com"},
				"Action":    "s3:PutObject",
				"Condition": assertions.Match_ObjectLike(&map[string]any{
					"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
				}),
			}),
		})},
	})
	r := resource(t, "AccessLogsBucket")
	if r["DeletionPolicy"] != "Retain" {
		t.Errorf("access logs bucket DeletionPolicy %v, want Retain", r["DeletionPolicy"])
	}
}

func TestTelemetryBucketIsVersionedAndDropsOverwrittenVersionsAfterAMonth(t *testing.T) {
	props := resource(t, "TelemetryBucket")["Properties"].(map[string]any)
	if got := render(props["VersioningConfiguration"]); got != "map[Status:Enabled]" {
		t.Errorf("telemetry bucket versioning = %s, want Enabled", got)
	}
	rule := props["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)[0].(map[string]any)
	if got := render(rule["NoncurrentVersionExpiration"]); got != "map[NoncurrentDays:30]" {
		t.Errorf("telemetry lifecycle NoncurrentVersionExpiration = %s, want 30 days", got)
	}
}

func TestDeviceStatusHistoryExpiresThroughTheTTLAttributeTheLambdaSets(t *testing.T) {
	def, _ := templates(t)
	if got := render(resource(t, "DeviceStatusTable")["Properties"].(map[string]any)["TimeToLiveSpecification"]); got != "map[AttributeName:expiresAt Enabled:true]" {
		t.Errorf("device status table TTL = %s, want expiresAt enabled", got)
	}
	for _, id := range []string{"ReleasesTable", "TelemetryStateTable"} {
		if v, ok := resource(t, id)["Properties"].(map[string]any)["TimeToLiveSpecification"]; ok {
			t.Errorf("%s has a TTL %s: its rows must not expire", id, render(v))
		}
	}
	def.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"SWARD_HISTORY_RETENTION_DAYS": "365",
		})},
	})
}
