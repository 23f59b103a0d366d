package export

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

func s3Def(bucket string, batchSize int64) ipc.ExportDefinition {
	return ipc.ExportDefinition{S3: []ipc.S3Config{{
		ExportCommon: ipc.ExportCommon{Identifier: "archive", BatchSize: batchSize},
		Bucket:       bucket,
		KeyPrefix:    "edge/",
	}}}
}

// Kill -9 at every point of a batch's life, then restart with a different
// batchSize: the objects cover every message exactly once and never
// overlap, because the in-flight marker fixes the interrupted batch's
// range and the key is derived from it.
func TestS3ExportSurvivesKill9WithoutDuplicateObjects(t *testing.T) {
	endpoint := motoURL(t)
	const n, size = 400, 64
	for i, tc := range []struct {
		name      string
		crashAt   string
		killAfter int
	}{
		{"after the in-flight marker, before the upload", "marked:3", 0},
		{"after the upload, before the commit", "sent:3", 0},
		{"after the commit, before the acks", "committed:3", 0},
		{"at a moment the parent picks", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := uniqueName(fmt.Sprintf("crash-%d", i))
			createBucket(t, endpoint, bucket)
			cfg := childConfig{
				StoreDir: filepath.Join(t.TempDir(), "jetstream"), StreamName: "telemetry",
				Messages: n, Size: size, Definition: s3Def(bucket, 20), CrashAt: tc.crashAt,
			}
			crashThenFinish(t, cfg, s3Def(bucket, 33), endpoint, tc.killAfter)
			objs := s3Objects(t, endpoint, bucket, "edge/telemetry/")
			checkS3ExactlyOnce(t, objs, n, size)
			if t.Failed() {
				for _, o := range objs {
					t.Logf("object %s", o.key)
				}
			}
		})
	}
}

// A batch of at least multipartThresholdBytes uploads in parts (an ETag
// with a part count); a smaller one in a single PUT.
func TestS3MultipartAboveThreshold(t *testing.T) {
	endpoint := motoURL(t)
	js := testBroker(t)
	ctx := t.Context()
	s, err := ensureStreams(ctx, js, "camera")
	if err != nil {
		t.Fatal(err)
	}
	// 4 messages of 1 MiB: 5.3 MiB of JSON lines (base64 payloads), over
	// the 5 MiB threshold → two parts.
	const n, size = 4, 1 << 20
	if err := appendMessages(ctx, js, s, "camera", n, size); err != nil {
		t.Fatal(err)
	}
	bucket := uniqueName("frames")
	createBucket(t, endpoint, bucket)
	def := ipc.ExportDefinition{S3: []ipc.S3Config{
		{ExportCommon: ipc.ExportCommon{Identifier: "big", BatchSize: n}, Bucket: bucket, KeyPrefix: "big/", MultipartThresholdBytes: ipc.MinS3MultipartThresholdBytes},
		{ExportCommon: ipc.ExportCommon{Identifier: "small", BatchSize: 2}, Bucket: bucket, KeyPrefix: "small/", MultipartThresholdBytes: ipc.MinS3MultipartThresholdBytes},
	}}
	cfg := awsConfig()
	r, err := Start(ctx, Options{JetStream: js, Stream: jsStreamName("camera"), StreamName: "camera", Definition: def,
		AWS: &cfg, EndpointURL: endpoint, S3PathStyle: true, Logger: testlog.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	exportedUpTo(t, r, n)

	big := s3Objects(t, endpoint, bucket, "big/")
	if len(big) != 1 || !big[0].multipart || !strings.HasSuffix(big[0].key, "00000000000000000001-00000000000000000004.jsonl") {
		t.Fatalf("big batch: got %+v, want one multipart object covering 1-4", keys(big))
	}
	checkS3ExactlyOnce(t, big, n, size)
	small := s3Objects(t, endpoint, bucket, "small/")
	for _, o := range small {
		if o.multipart {
			t.Errorf("object %s (2 MiB) was uploaded in parts, want one PUT below the threshold", o.key)
		}
	}
	checkS3ExactlyOnce(t, small, n, size)
}

func keys(objs []s3Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s multipart=%v", o.key, o.multipart))
	}
	return out
}

// An S3 stand-in answering as S3 does a principal that may put and get
// objects under its prefix but not list the bucket (the stack's device
// role): a HEAD of a key that is not there is 403, not 404. The role's
// refusals cannot be had from moto, which does not enforce IAM.
func TestS3ResumeUploadsWhenTheCheckIsForbiddenForWantOfListBucket(t *testing.T) {
	var puts []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead || r.Method == http.MethodGet: // HeadObject, ListMultipartUploads
			w.WriteHeader(http.StatusForbidden)
		case r.Method == http.MethodPut:
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			puts = append(puts, r.URL.Path+" "+strconv.Itoa(len(body)))
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	cfg := awsConfig()
	cfg.BaseEndpoint = aws.String(srv.URL)
	d := newS3(cfg, Options{StreamName: "env", S3PathStyle: true}, ipc.S3Config{Bucket: "telemetry", KeyPrefix: "devices/pi-1/"})
	b := &batch{first: 1, last: 2, msgs: []message{{seq: 1, time: time.Now(), data: []byte("a")}, {seq: 2, time: time.Now(), data: []byte("b")}}}
	if err := d.resume(context.Background(), b, &state{}); err != nil {
		t.Fatalf("resume with a 403 check: %v, want the batch uploaded", err)
	}
	want := "/telemetry/" + S3Key("devices/pi-1/", "env", 1, 2)
	if len(puts) != 1 || !strings.HasPrefix(puts[0], want+" ") {
		t.Errorf("PUTs %q, want one of %s", puts, want)
	}
}
