package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sward-iot/sward/shared/ipc"
)

// s3PartSize is the multipart part size: S3's smallest. The batch is in
// memory anyway, so larger parts save nothing, and a failed part repeats
// the least.
const s3PartSize = 5 << 20

// Object metadata the S3 exporter sets (x-amz-meta-...), so that a resume
// recognizes an object it already wrote and readers can list ranges.
const (
	metaFirst = "sward-first-sequence"
	metaLast  = "sward-last-sequence"
)

// s3Dest writes each batch as one object whose key is derived from the
// stream and the batch's sequence range. Writing the same batch again
// writes the same key with the same bytes, so S3 export is exactly-once
// by construction: the in-flight marker fixes the range across restarts.
type s3Dest struct {
	client     *s3.Client
	tm         *transfermanager.Client
	cfg        ipc.S3Config
	streamName string
}

func newS3(cfg aws.Config, opts Options, c ipc.S3Config) *s3Dest {
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = opts.S3PathStyle })
	threshold := c.MultipartThresholdBytes
	if threshold == 0 {
		threshold = ipc.DefaultS3MultipartThresholdBytes
	}
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.MultipartUploadThreshold = threshold
		o.PartSizeBytes = s3PartSize
	})
	return &s3Dest{client: client, tm: tm, cfg: c, streamName: opts.StreamName}
}

// S3Key is the object key of the batch first..last of streamName:
// <keyPrefix><streamName>/<first>-<last>.jsonl with 20-digit sequence
// numbers, so keys sort in sequence order.
func S3Key(keyPrefix, streamName string, first, last uint64) string {
	return fmt.Sprintf("%s%s/%020d-%020d.jsonl", keyPrefix, streamName, first, last)
}

func (d *s3Dest) key(b *batch) string { return S3Key(d.cfg.KeyPrefix, d.streamName, b.first, b.last) }

func (d *s3Dest) where(b *batch) string { return "s3://" + d.cfg.Bucket + "/" + d.key(b) }

// body is the object: one JSON ipc.Message per line.
func (d *s3Dest) body(b *batch) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range b.msgs {
		_ = enc.Encode(ipc.Message{StreamName: d.streamName, SequenceNumber: int64(m.seq), IngestTime: m.time.UnixMilli(), Payload: m.data})
	}
	return buf.Bytes()
}

func (d *s3Dest) send(ctx context.Context, b *batch, _ *state) error {
	key := d.key(b)
	_, err := d.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(d.cfg.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(d.body(b)),
		ContentType: aws.String("application/x-ndjson"),
		Metadata: map[string]string{
			metaFirst: strconv.FormatUint(b.first, 10),
			metaLast:  strconv.FormatUint(b.last, 10),
		},
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", d.cfg.Bucket, key, err)
	}
	return nil
}

// resume skips the upload when the object is already there, and aborts
// multipart uploads of the key that a crash left behind (S3 keeps their
// parts, and bills them, until aborted).
func (d *s3Dest) resume(ctx context.Context, b *batch, st *state) error {
	key := d.key(b)
	ups, err := d.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(d.cfg.Bucket), Prefix: aws.String(key)})
	if err == nil {
		for _, u := range ups.Uploads {
			if aws.ToString(u.Key) == key {
				_, _ = d.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(d.cfg.Bucket), Key: u.Key, UploadId: u.UploadId})
			}
		}
	}
	head, err := d.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(d.cfg.Bucket), Key: aws.String(key)})
	var nf *s3types.NotFound
	var re *awshttp.ResponseError
	switch {
	case err == nil && head.Metadata[metaLast] == strconv.FormatUint(b.last, 10):
		return nil
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden:
		// S3 answers 403 for a missing key to a principal without
		// s3:ListBucket, as the stack's device role (writes only under
		// devices/<thing>/): the object may or may not be there, and
		// writing it again writes the same bytes under the same key.
	case err != nil && !errors.As(err, &nf):
		return fmt.Errorf("check s3://%s/%s: %w", d.cfg.Bucket, key, err)
	}
	return d.send(ctx, b, st)
}
