package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// artifactsTemplate synthesizes a fresh ArtifactsStack for one test.
func artifactsTemplate(t *testing.T) assertions.Template {
	t.Helper()
	app := awscdk.NewApp(nil)
	stack := NewArtifactsStack(app, "TestArtifacts", &ArtifactsStackProps{ThingGroupName: "test-devices"})
	return assertions.Template_FromStack(stack, nil)
}

func TestArtifactsStackHoldsOnlyTheBucketAndItsPolicy(t *testing.T) {
	tmpl := artifactsTemplate(t)
	tmpl.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(1))
	tmpl.ResourceCountIs(jsii.String("AWS::S3::BucketPolicy"), jsii.Number(1))
	if n := len((*tmpl.ToJSON())["Resources"].(map[string]any)); n != 2 {
		t.Errorf("stack has %d resources, want 2 (bucket and bucket policy)", n)
	}
}

func TestArtifactsBucketIsVersionedEncryptedAndPrivate(t *testing.T) {
	artifactsTemplate(t).HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
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
		"Tags": assertions.Match_ArrayWith(&[]any{
			map[string]any{"Key": "sward:thing-group", "Value": "test-devices"},
		}),
	})
}

func TestArtifactsBucketIsRetainedOnStackDeletion(t *testing.T) {
	artifactsTemplate(t).HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
	})
}

func TestArtifactsBucketPolicyDeniesRequestsWithoutTLS(t *testing.T) {
	tmpl := artifactsTemplate(t)
	bucket := assertions.NewCapture(nil)
	tmpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
		"Bucket": map[string]any{"Ref": bucket},
		"PolicyDocument": map[string]any{
			"Statement": assertions.Match_ArrayWith(&[]any{
				map[string]any{
					"Effect":    "Deny",
					"Principal": map[string]any{"AWS": "*"},
					"Action":    "s3:*",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					// The bucket itself and every object in it.
					"Resource": []any{
						map[string]any{"Fn::GetAtt": []any{assertions.Match_AnyValue(), "Arn"}},
						map[string]any{"Fn::Join": assertions.Match_AnyValue()},
					},
				},
			}),
		},
	})
	assertIsBucket(t, tmpl, *bucket.AsString())
}

func TestArtifactsStackOutputsTheBucketName(t *testing.T) {
	tmpl := artifactsTemplate(t)
	bucket := assertions.NewCapture(nil)
	tmpl.HasOutput(jsii.String("ArtifactsBucketName"), map[string]any{
		"Value": map[string]any{"Ref": bucket},
	})
	assertIsBucket(t, tmpl, *bucket.AsString())
}

// assertIsBucket fails t unless logicalID names an AWS::S3::Bucket of tmpl.
func assertIsBucket(t *testing.T, tmpl assertions.Template, logicalID string) {
	t.Helper()
	if _, ok := (*tmpl.FindResources(jsii.String("AWS::S3::Bucket"), nil))[logicalID]; !ok {
		t.Errorf("%q is not the logical id of the artifacts bucket", logicalID)
	}
}
