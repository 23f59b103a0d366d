package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/sward-iot/sward/shared/release"
)

// GitHub's OIDC issuer and the audience aws-actions/configure-aws-credentials
// asks for.
const (
	githubOIDCHost     = "token.actions.githubusercontent.com"
	githubOIDCAudience = "sts.amazonaws.com"
)

// Prefixes of the artifacts bucket that `sward publish` writes: artifacts
// under artifacts/<Name>/<Version>/, recipes and the manifest under
// releases/<commit>/, the last-release marker under releases/latest/.
var publisherPrefixes = []string{"artifacts/", release.Prefix}

// publisher is the role the release workflow assumes through GitHub's OIDC
// token, and the provider it trusts.
type publisher struct {
	providerArn string
	role        awsiam.Role
}

// newPublisher adds, when cfg names a GitHub repository, the role that the
// release workflow (.github/workflows/release.yml) assumes to run `sward
// publish`, and GitHub's OIDC provider unless cfg gives an existing one's
// ARN (an account holds one provider per issuer).
//
// Trust: web identity from that provider only, audience sts.amazonaws.com
// and subject repo:<owner>/<repo>:ref:refs/heads/<branch> exactly: no other
// repository, branch, tag, pull request or environment. Permissions: what
// publish and `sward release status` call, and no more: s3:GetObject (also
// HeadObject) and s3:PutObject under the artifacts bucket's artifacts/ and
// releases/, s3:ListBucket on the bucket (a missing key is then 404, not
// 403), cloudformation:DescribeStacks on this stack, dynamodb:GetItem on
// the releases table, iot:DescribeJob and iot:ListJobExecutionsForJob on
// the stack's jobs. Not DeleteObject: a publish never removes anything.
func newPublisher(stack awscdk.Stack, st *storage, cfg appConfig) *publisher {
	if cfg.GitHubRepository == "" {
		return nil
	}
	p := &publisher{providerArn: cfg.GitHubOIDCProviderArn}
	if p.providerArn == "" {
		provider := awsiam.NewCfnOIDCProvider(stack, jsii.String("GitHubOIDCProvider"), &awsiam.CfnOIDCProviderProps{
			Url:          jsii.String("https://" + githubOIDCHost),
			ClientIdList: jsii.Strings(githubOIDCAudience),
		})
		p.providerArn = *provider.AttrArn()
	}
	subject := "repo:" + cfg.GitHubRepository + ":ref:refs/heads/" + cfg.GitHubBranch
	p.role = awsiam.NewRole(stack, jsii.String("PublisherRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewWebIdentityPrincipal(jsii.String(p.providerArn), &map[string]any{
			"StringEquals": map[string]any{
				githubOIDCHost + ":aud": githubOIDCAudience,
				githubOIDCHost + ":sub": subject,
			},
		}),
		Description: jsii.String("What the release workflow of " + cfg.GitHubRepository + " (" + cfg.GitHubBranch + ") may do: sward publish"),
		// A publish takes minutes; an hour is the shortest maximum.
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	bucket := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), stack.Partition(), jsii.String(":s3:::"), st.artifactsBucketName})
	var objects []string
	var findings []any
	for _, prefix := range publisherPrefixes {
		objects = append(objects, *bucket+"/"+prefix+"*")
		findings = append(findings, resourceFinding("arn:<AWS::Partition>:s3:::sward-artifacts-<AWS::AccountId>-<AWS::Region>/"+prefix+"*"))
	}
	p.role.AddToPolicy(allow([]string{"s3:GetObject", "s3:PutObject"}, objects...))
	p.role.AddToPolicy(allow([]string{"s3:ListBucket"}, *bucket))
	p.role.AddToPolicy(allow([]string{"cloudformation:DescribeStacks"}, *stack.StackId()))
	p.role.AddToPolicy(allow([]string{"dynamodb:GetItem"}, *st.releases.TableArn()))
	jobs := iotArn(stack, "job/"+release.JobIDPrefix+"*")
	p.role.AddToPolicy(allow([]string{"iot:DescribeJob", "iot:ListJobExecutionsForJob"}, jobs))
	findings = append(findings, resourceFinding("arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/"+release.JobIDPrefix+"*"))
	suppress(p.role, "AwsSolutions-IAM5",
		"A release writes objects named by component, version and commit under the two prefixes publish owns; job ids are the stack's prefix and a commit",
		findings...)
	return p
}
