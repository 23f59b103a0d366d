// Command s3list is a test component: an unmodified aws-sdk-go-v2 client
// with the SDK's default credential chain (which reads
// AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN)
// that lists a bucket and prints one key a line.
//
//	s3list -bucket NAME -endpoint URL
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	bucket := flag.String("bucket", "", "the bucket to list")
	endpoint := flag.String("endpoint", "", "the S3 endpoint URL (path-style)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := list(ctx, *bucket, *endpoint); err != nil {
		fmt.Fprintln(os.Stderr, "s3list:", err)
		os.Exit(1)
	}
}

func list(ctx context.Context, bucket, endpoint string) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		return err
	}
	for _, o := range out.Contents {
		fmt.Println(aws.ToString(o.Key))
	}
	return nil
}
