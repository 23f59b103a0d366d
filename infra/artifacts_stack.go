package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ArtifactsStackProps configures NewArtifactsStack.
type ArtifactsStackProps struct {
	awscdk.StackProps
	// ThingGroupName is the IoT thing group whose devices install what is
	// published to the bucket. It is recorded as the sward:thing-group tag
	// on every resource of the stack.
	ThingGroupName string
}

// NewArtifactsStack builds the stack holding the artifacts bucket, where
// `sward publish` uploads recipes, artifacts and release manifests keyed by
// commit, and where devices download them from.
//
// The bucket is versioned (an overwritten or deleted release can be
// recovered), encrypted with S3-managed keys, closed to public access, only
// reachable over TLS (a bucket policy denies aws:SecureTransport=false) and
// retained when the stack is deleted, because devices may still reference its
// objects. Its name is the stack output ArtifactsBucketName.
//
// This is all the stack holds for now: the deployment and telemetry Lambdas,
// the S3 event notification, IoT topic rules, IAM roles and policies and the
// IoT role alias come with the cloud issue.
func NewArtifactsStack(scope constructs.Construct, id string, props *ArtifactsStackProps) awscdk.Stack {
	var sprops awscdk.StackProps
	var group string
	if props != nil {
		sprops = props.StackProps
		group = props.ThingGroupName
	}
	stack := awscdk.NewStack(scope, &id, &sprops)
	if group != "" {
		awscdk.Tags_Of(stack).Add(jsii.String("sward:thing-group"), jsii.String(group), nil)
	}

	bucket := awss3.NewBucket(stack, jsii.String("ArtifactsBucket"), &awss3.BucketProps{
		Versioned:         jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})

	awscdk.NewCfnOutput(stack, jsii.String("ArtifactsBucketName"), &awscdk.CfnOutputProps{
		Value:       bucket.BucketName(),
		Description: jsii.String("Bucket that `sward publish` uploads recipes, artifacts and release manifests to"),
	})
	return stack
}
