// Package resources creates the template's S3 buckets, DynamoDB tables
// and CloudWatch Logs log groups in moto at `devcloud up`, under the
// physical names the template package resolves, so that the Lambdas find
// what their environment names. Each is created only when missing: a moto
// that outlives devcloud (--moto-endpoint) keeps its data across devcloud
// restarts.
package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/infra/devcloud/template"
)

// Created reports what Ensure made (the rest existed already).
type Created struct {
	Buckets, Tables, LogGroups []string
}

// Ensure creates the template's buckets, tables and log groups that moto
// (at cfg's endpoint) does not have yet.
func Ensure(ctx context.Context, cfg aws.Config, tmpl *template.Template) (Created, error) {
	var c Created
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range tmpl.Buckets {
		made, err := ensureBucket(ctx, s3c, cfg.Region, b)
		if err != nil {
			return c, fmt.Errorf("bucket %s (%s): %w", b.Name, b.LogicalID, err)
		}
		if made {
			c.Buckets = append(c.Buckets, b.Name)
		}
	}
	db := dynamodb.NewFromConfig(cfg)
	for _, t := range tmpl.Tables {
		made, err := ensureTable(ctx, db, t)
		if err != nil {
			return c, fmt.Errorf("table %s (%s): %w", t.Name, t.LogicalID, err)
		}
		if made {
			c.Tables = append(c.Tables, t.Name)
		}
	}
	logs := cloudwatchlogs.NewFromConfig(cfg)
	for _, g := range tmpl.LogGroups {
		_, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)})
		var exists *logtypes.ResourceAlreadyExistsException
		switch {
		case errors.As(err, &exists):
		case err != nil:
			return c, fmt.Errorf("log group %s: %w", g, err)
		default:
			c.LogGroups = append(c.LogGroups, g)
		}
	}
	return c, nil
}

func ensureBucket(ctx context.Context, c *s3.Client, region string, b template.Bucket) (bool, error) {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.Name)}); err == nil {
		return false, nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(b.Name)}
	if region != "us-east-1" { // S3 refuses a location constraint of us-east-1
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	_, err := c.CreateBucket(ctx, in)
	var owned *s3types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) {
		return false, nil
	}
	return err == nil, err
}

func ensureTable(ctx context.Context, c *dynamodb.Client, t template.Table) (bool, error) {
	if _, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)}); err == nil {
		return false, nil
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(t.Name),
		BillingMode: dbtypes.BillingModePayPerRequest,
		KeySchema:   []dbtypes.KeySchemaElement{{AttributeName: aws.String(t.PartitionKey), KeyType: dbtypes.KeyTypeHash}},
		AttributeDefinitions: []dbtypes.AttributeDefinition{{
			AttributeName: aws.String(t.PartitionKey), AttributeType: dbtypes.ScalarAttributeType(t.Attributes[t.PartitionKey]),
		}},
	}
	if t.SortKey != "" {
		in.KeySchema = append(in.KeySchema, dbtypes.KeySchemaElement{AttributeName: aws.String(t.SortKey), KeyType: dbtypes.KeyTypeRange})
		in.AttributeDefinitions = append(in.AttributeDefinitions, dbtypes.AttributeDefinition{
			AttributeName: aws.String(t.SortKey), AttributeType: dbtypes.ScalarAttributeType(t.Attributes[t.SortKey]),
		})
	}
	_, err := c.CreateTable(ctx, in)
	var inUse *dbtypes.ResourceInUseException
	if errors.As(err, &inUse) {
		return false, nil
	}
	return err == nil, err
}
