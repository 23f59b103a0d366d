package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// configuredResource is resource() of the configured template.
func configuredResource(t *testing.T, id string) map[string]any {
	t.Helper()
	templates(t)
	for logical, r := range configuredResources {
		if logical == id || (strings.HasPrefix(logical, id) && len(logical) == len(id)+8) {
			return r.(map[string]any)
		}
	}
	t.Fatalf("no resource %s in the configured template", id)
	return nil
}

func TestPublisherRoleTrustsOnlyTheConfiguredRepositoryAndBranchThroughGitHubOIDC(t *testing.T) {
	_, tmpl := templates(t)
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::OIDCProvider"), map[string]any{
		"Url":          "https://token.actions.githubusercontent.com",
		"ClientIdList": []any{"sts.amazonaws.com"},
	})
	trust := configuredResource(t, "PublisherRole")["Properties"].(map[string]any)["AssumeRolePolicyDocument"].(map[string]any)["Statement"]
	want := "[map[Action:sts:AssumeRoleWithWebIdentity Condition:map[StringEquals:map[token.actions.githubusercontent.com:aud:sts.amazonaws.com token.actions.githubusercontent.com:sub:repo:sward-iot/sward:ref:refs/heads/release]] Effect:Allow Principal:map[Federated:{GitHubOIDCProvider.Arn}]]]"
	if got := render(trust); got != want {
		t.Errorf("publisher trust =\n %s\nwant\n %s", got, want)
	}
	// Without a repository there is nothing to trust: no role, no provider.
	def := defaultTemplate(t)
	def.ResourceCountIs(jsii.String("AWS::IAM::OIDCProvider"), jsii.Number(0))
	if _, ok := (*def.ToJSON())["Outputs"].(map[string]any)["PublisherRoleArn"]; ok {
		t.Error("the default stack outputs a publisher role")
	}
}

func TestPublisherRoleMayWriteOnlyWhatPublishWritesAndReadWhatStatusReads(t *testing.T) {
	templates(t)
	const bucket = "arn:{AWS::Partition}:s3:::sward-artifacts-{AWS::AccountId}-{AWS::Region}"
	objects := []string{bucket + "/artifacts/*", bucket + "/releases/*"}
	got := map[string][]string{}
	role := "{PublisherRole}"
	for _, r := range configuredResources {
		res := r.(map[string]any)
		if res["Type"] != "AWS::IAM::Policy" || render(res["Properties"].(map[string]any)["Roles"]) != "["+role+"]" {
			continue
		}
		for _, s := range res["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := s.(map[string]any)
			for _, a := range asList(st["Action"]) {
				for _, rs := range asList(st["Resource"]) {
					got[render(a)] = append(got[render(a)], render(rs))
				}
			}
		}
	}
	assertGrants(t, "publisher", got, map[string][]string{
		"s3:GetObject":                  objects,
		"s3:PutObject":                  objects,
		"s3:ListBucket":                 {bucket},
		"cloudformation:DescribeStacks": {"{AWS::StackId}"},
		"dynamodb:GetItem":              {"{ReleasesTable.Arn}"},
		"iot:DescribeJob":               {"arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:job/sward-*"},
		"iot:ListJobExecutionsForJob":   {"arn:{AWS::Partition}:iot:{AWS::Region}:{AWS::AccountId}:job/sward-*"},
	})
}

func TestPublisherTrustsAnExistingOIDCProviderWhenGiven(t *testing.T) {
	const arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
	app := awscdk.NewApp(nil)
	stack := NewCloudStack(app, "TestExistingProvider", &CloudStackProps{LambdaDist: placeholderDist, GitHubRepository: "o/r", GitHubOIDCProviderArn: arn})
	tmpl := assertions.Template_FromStack(stack, nil)
	tmpl.ResourceCountIs(jsii.String("AWS::IAM::OIDCProvider"), jsii.Number(0))
	tmpl.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
		"AssumeRolePolicyDocument": map[string]any{"Statement": []any{assertions.Match_ObjectLike(&map[string]any{
			"Principal": map[string]any{"Federated": arn},
			"Condition": map[string]any{"StringEquals": map[string]any{
				"token.actions.githubusercontent.com:sub": "repo:o/r:ref:refs/heads/main",
				"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
			}},
		})}},
	})
}

func TestGitHubContextValues(t *testing.T) {
	tests := []struct {
		name                   string
		context                map[string]any
		repo, branch, provider string
		wantErr                string
	}{
		{name: "unset: no publisher", branch: "main"},
		{name: "repository, default branch", context: map[string]any{"githubRepository": "sward-iot/sward"}, repo: "sward-iot/sward", branch: "main"},
		{name: "all three", context: map[string]any{"githubRepository": "a/b", "githubBranch": "release/2026", "githubOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
			repo: "a/b", branch: "release/2026", provider: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
		{name: "repository without owner", context: map[string]any{"githubRepository": "sward"}, wantErr: "give owner/name"},
		{name: "wildcard branch", context: map[string]any{"githubRepository": "a/b", "githubBranch": "*"}, wantErr: "not a branch name"},
		{name: "another issuer", context: map[string]any{"githubRepository": "a/b", "githubOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, wantErr: "not the ARN of GitHub's OIDC provider"},
		{name: "provider without repository", context: map[string]any{"githubOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}, wantErr: "githubRepository is not"},
		{name: "not a string", context: map[string]any{"githubRepository": 3.0}, wantErr: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, branch, provider, err := github(awscdk.NewApp(&awscdk.AppProps{Context: &tt.context}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("github() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || repo != tt.repo || branch != tt.branch || provider != tt.provider {
				t.Errorf("github() = %q %q %q, %v; want %q %q %q", repo, branch, provider, err, tt.repo, tt.branch, tt.provider)
			}
		})
	}
}
