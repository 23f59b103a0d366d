package resources

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sward-iot/sward/infra/devcloud/template"
	"github.com/sward-iot/sward/internal/testutil"
)

func TestEnsureCreatesWhatIsMissingAndKeepsWhatExists(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	cfg := moto.Config()
	tmpl := &template.Template{
		Buckets: []template.Bucket{{LogicalID: "B", Name: "swardcloud-b"}},
		Tables: []template.Table{{LogicalID: "T", Name: "SwardCloud-T", PartitionKey: "thingName", SortKey: "sortKey",
			Attributes: map[string]string{"thingName": "S", "sortKey": "S"}}},
		LogGroups: []string{"SwardCloud-Errors"},
	}
	ctx := context.Background()
	created, err := Ensure(ctx, cfg, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created.Buckets, []string{"swardcloud-b"}) || !slices.Equal(created.Tables, []string{"SwardCloud-T"}) || !slices.Equal(created.LogGroups, []string{"SwardCloud-Errors"}) {
		t.Fatalf("first Ensure created %+v, want everything", created)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("swardcloud-b"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	desc, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("SwardCloud-T")})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Table.KeySchema) != 2 || aws.ToString(desc.Table.KeySchema[1].AttributeName) != "sortKey" {
		t.Errorf("key schema = %+v, want thingName + sortKey", desc.Table.KeySchema)
	}

	again, err := Ensure(ctx, cfg, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Buckets)+len(again.Tables)+len(again.LogGroups) != 0 {
		t.Errorf("second Ensure created %+v, want nothing", again)
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("swardcloud-b"), Key: aws.String("k")}); err != nil {
		t.Errorf("the object written before the second Ensure: %v", err)
	}
}
