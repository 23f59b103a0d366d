package s3events

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/infra/devcloud/template"
	"github.com/sward-iot/sward/internal/testutil"
)

type invoked struct {
	arn     string
	payload []byte
}

type recorder chan invoked

func (r recorder) InvokeAsync(ref string, payload []byte, _ string) (string, error) {
	r <- invoked{ref, payload}
	return "id", nil
}

// s3Event is the part of the event the test reads, with S3's field names.
type s3Event struct {
	Records []struct {
		EventVersion, EventSource, AWSRegion, EventTime, EventName string
		S3                                                         struct {
			ConfigurationID string
			Bucket          struct{ Name, Arn string }
			Object          struct {
				Key, ETag, Sequencer string
				Size                 int64
			}
		}
	}
}

func TestObjectsCreatedThroughTheProxyNotifyTheMatchingFunctionWithS3sEvent(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:release"
	calls := make(recorder, 8)
	p, err := New(Options{AWS: moto.Config(), Lambda: calls, AccountID: "123456789012", Buckets: []template.Bucket{{
		LogicalID: "Artifacts", Name: "artifacts",
		Notifications: []template.BucketNotification{{Event: "s3:ObjectCreated:*", Prefix: "releases/", Suffix: "release.json", FunctionArn: arn}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Shutdown)
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(p.URL())
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("artifacts")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	next := func() s3Event {
		t.Helper()
		call := testutil.Receive(t, calls, "a notification")
		if call.arn != arn {
			t.Errorf("invoked %s, want %s", call.arn, arn)
		}
		var ev s3Event
		if err := json.Unmarshal(call.payload, &ev); err != nil || len(ev.Records) != 1 {
			t.Fatalf("event %s: %v", call.payload, err)
		}
		return ev
	}

	put("recipes/a.yaml", "not a release") // outside the filter
	put("releases/abc def/release.json", `{"formatVersion":1}`)
	ev := next()
	r := ev.Records[0]
	if r.EventVersion != "2.1" || r.EventSource != "aws:s3" || r.AWSRegion != "us-east-1" || r.EventName != "ObjectCreated:Put" {
		t.Errorf("record = %+v", r)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", r.EventTime); err != nil {
		t.Errorf("eventTime %q: %v", r.EventTime, err)
	}
	o := r.S3.Object
	if o.Key != "releases/abc+def/release.json" || o.Size != int64(len(`{"formatVersion":1}`)) || o.ETag == "" || strings.Contains(o.ETag, `"`) || o.Sequencer == "" {
		t.Errorf("object = %+v, want the form-encoded key, its size and an unquoted ETag", o)
	}
	if r.S3.Bucket.Name != "artifacts" || r.S3.Bucket.Arn != "arn:aws:s3:::artifacts" || r.S3.ConfigurationID == "" {
		t.Errorf("bucket = %+v", r.S3)
	}

	// A multipart upload notifies once, at completion.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("artifacts"), Key: aws.String("releases/b/release.json")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("artifacts"), Key: aws.String("releases/b/release.json"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("artifacts"), Key: aws.String("releases/b/release.json"), UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Records[0].EventName != "ObjectCreated:CompleteMultipartUpload" || ev.Records[0].S3.Object.Key != "releases/b/release.json" || ev.Records[0].S3.Object.Sequencer <= o.Sequencer {
		t.Errorf("multipart record = %+v, want CompleteMultipartUpload with a greater sequencer than %s", ev.Records[0], o.Sequencer)
	}
	select {
	case extra := <-calls:
		t.Errorf("unexpected notification %s", extra.payload)
	case <-time.After(200 * time.Millisecond):
	}
}
