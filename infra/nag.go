package main

import (
	"regexp"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records on c (and its children: a role's default policy) that
// cdk-nag's rule does not apply there, and why. The infra tests run cdk-nag's
// AwsSolutions pack over the stack (nag_test.go) and fail on any finding not
// suppressed here, so every exception to the pack is in the code, next to
// what it excuses, with its reason.
//
// appliesTo narrows a granular rule (AwsSolutions-IAM5) to the findings it
// names, as cdk-nag prints them ("Resource::arn:<AWS::Partition>:…"). A
// finding that names a resource by logical id (<Bucket1234ABCD.Arn>) is given
// as arnOf("Bucket"), so that the CDK's hash is not written down.
func suppress(c constructs.IConstruct, rule, reason string, appliesTo ...any) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// resourceFinding is the IAM5 finding for resource, a literal.
func resourceFinding(resource string) any { return "Resource::" + resource }

// objectsOf is the IAM5 finding for every object of the bucket with logical
// id prefix id: <id12345678.Arn>/*.
func objectsOf(id string) any {
	return &cdknag.RegexAppliesTo{Regex: jsii.String("/^Resource::<" + regexp.QuoteMeta(id) + "[0-9A-F]{8}\\.Arn>\\/\\*$/")}
}
