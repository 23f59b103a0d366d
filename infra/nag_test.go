package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// TestCloudStackPassesCdkNagAwsSolutions synthesizes the stack with cdk-nag's
// AwsSolutions pack applied: every finding, error or warning, fails the test
// unless the stack suppresses it in code with a reason (nag.go).
func TestCloudStackPassesCdkNagAwsSolutions(t *testing.T) {
	if placeholderDistErr != nil {
		t.Fatalf("placeholder Lambda builds: %v", placeholderDistErr)
	}
	ctx := cdkJSONContext(t)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	// Everything the stack can hold: the publisher role and its OIDC
	// provider too.
	stack := NewCloudStack(app, "TestNag", &CloudStackProps{LambdaDist: placeholderDist, GitHubRepository: "sward-iot/sward"})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	// With the recommended feature flags an error annotation fails the
	// synthesis itself: turn that into the test's failure.
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("cdk-nag AwsSolutions failed the synthesis (its findings are printed above); fix each, or suppress it with the reason (nag.go): %v", r)
		}
	}()
	annotations := assertions.Annotations_FromStack(stack)
	any := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	var findings []string
	for _, m := range *annotations.FindError(jsii.String("*"), any) {
		findings = append(findings, fmt.Sprintf("error %s: %v", *m.Id, m.Entry.Data))
	}
	for _, m := range *annotations.FindWarning(jsii.String("*"), any) {
		findings = append(findings, fmt.Sprintf("warning %s: %v", *m.Id, m.Entry.Data))
	}
	slices.Sort(findings)
	if len(findings) > 0 {
		t.Errorf("cdk-nag AwsSolutions found %d unsuppressed problem(s); fix each, or suppress it in nag.go with the reason:\n%s",
			len(findings), strings.Join(findings, "\n"))
	}
}
