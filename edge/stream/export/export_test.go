package export

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// Invalid export definitions are refused by Start with an error naming the
// field and saying what would fix it.
func TestInvalidDefinitionsNameTheField(t *testing.T) {
	js := testBroker(t)
	ok := ipc.ExportCommon{Identifier: "x"}
	for _, tc := range []struct {
		name    string
		def     ipc.ExportDefinition
		wantErr string
	}{
		{"missing identifier", ipc.ExportDefinition{Kinesis: []ipc.KinesisConfig{{KinesisStreamName: "k"}}},
			"exportDefinition.kinesis[0].identifier is empty"},
		{"identifier with a slash", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "a/b"}, URI: "http://127.0.0.1/"}}},
			`exportDefinition.http[0].identifier "a/b" is not valid`},
		{"kinesis batch above 500", ipc.ExportDefinition{Kinesis: []ipc.KinesisConfig{{ExportCommon: ipc.ExportCommon{Identifier: "k", BatchSize: 501}, KinesisStreamName: "k"}}},
			"exportDefinition.kinesis[0].batchSize 501 is out of range: use 1 to 500"},
		{"negative batch", ipc.ExportDefinition{S3: []ipc.S3Config{{ExportCommon: ipc.ExportCommon{Identifier: "s", BatchSize: -1}, Bucket: "bucket"}}},
			"exportDefinition.s3[0].batchSize -1 is out of range"},
		{"missing kinesis stream", ipc.ExportDefinition{Kinesis: []ipc.KinesisConfig{{ExportCommon: ok}}},
			`exportDefinition.kinesis[0].kinesisStreamName "" is not a Kinesis stream name`},
		{"relative uri", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ok, URI: "/ingest"}}},
			`exportDefinition.http[0].uri "/ingest" is not an absolute http or https URL`},
		{"ftp uri", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ok, URI: "ftp://127.0.0.1/x"}}},
			`exportDefinition.http[0].uri "ftp://127.0.0.1/x" is not an absolute http or https URL`},
		{"empty uri", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ok}}},
			"exportDefinition.http[0].uri is empty"},
		{"unknown format", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ok, URI: "http://127.0.0.1/", ExportFormat: "CSV"}}},
			`exportDefinition.http[0].exportFormat "CSV" is not a format`},
		{"priority 11", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "p", Priority: 11}, URI: "http://127.0.0.1/"}}},
			"exportDefinition.http[0].priority 11 is out of range"},
		{"negative start", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "p", StartSequenceNumber: -1}, URI: "http://127.0.0.1/"}}},
			"exportDefinition.http[0].startSequenceNumber -1 is negative"},
		{"negative interval", ipc.ExportDefinition{HTTP: []ipc.HTTPConfig{{ExportCommon: ipc.ExportCommon{Identifier: "p", BatchIntervalMillis: -5}, URI: "http://127.0.0.1/"}}},
			"exportDefinition.http[0].batchIntervalMillis -5 is out of range"},
		{"uppercase bucket", ipc.ExportDefinition{S3: []ipc.S3Config{{ExportCommon: ok, Bucket: "MyBucket"}}},
			`exportDefinition.s3[0].bucket "MyBucket" is not an S3 bucket name`},
		{"small multipart threshold", ipc.ExportDefinition{S3: []ipc.S3Config{{ExportCommon: ok, Bucket: "bucket", MultipartThresholdBytes: 1024}}},
			"exportDefinition.s3[0].multipartThresholdBytes 1024 is below S3's smallest part"},
		{"s3 batch above limit", ipc.ExportDefinition{S3: []ipc.S3Config{{ExportCommon: ipc.ExportCommon{Identifier: "s", BatchSize: ipc.MaxS3BatchSize + 1}, Bucket: "bucket"}}},
			"exportDefinition.s3[0].batchSize 10001 is out of range: use 1 to 10000"},
		{"duplicate identifier", ipc.ExportDefinition{
			Kinesis: []ipc.KinesisConfig{{ExportCommon: ok, KinesisStreamName: "k"}},
			S3:      []ipc.S3Config{{ExportCommon: ok, Bucket: "bucket"}}},
			`exportDefinition.s3[0].identifier "x" is also the identifier of exportDefinition.kinesis[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(t.Context(), Options{JetStream: js, Stream: "sward_stream_v", StreamName: "v", Definition: tc.def, Logger: testlog.New(t)})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Start error = %v, want it to contain %q", err, tc.wantErr)
			}
			var ie *ipc.Error
			if !errors.As(err, &ie) || ie.Code != ipc.CodeInvalidArguments {
				t.Errorf("error %v is not an InvalidArgumentsError", err)
			}
		})
	}
}

func TestStartNeedsJetStreamAndStream(t *testing.T) {
	if _, err := Start(t.Context(), Options{Stream: "s", StreamName: "s"}); !errors.Is(err, ErrNoJetStream) {
		t.Errorf("without JetStream: %v, want ErrNoJetStream", err)
	}
	if _, err := Start(t.Context(), Options{JetStream: testBroker(t)}); !errors.Is(err, ErrNoStream) {
		t.Errorf("without a stream: %v, want ErrNoStream", err)
	}
}

// A freed upload slot goes to the most urgent waiting export: priority 1
// before 5, and unset (0) last.
func TestSlotsServeMostUrgentFirst(t *testing.T) {
	s := NewSlots(1)
	ctx := t.Context()
	hold, err := s.acquire(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int64, 3)
	for i, p := range []int64{0, 5, 1} {
		go func() {
			release, err := s.acquire(ctx, p)
			if err != nil {
				return
			}
			order <- p
			release()
		}()
		// Queue them one by one, so arrival order is known.
		testutil.Eventually(t, "waiter queued", func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.queue.Len() != i+1 {
				return errors.New("not queued yet")
			}
			return nil
		})
	}
	hold()
	var got []int64
	for range 3 {
		got = append(got, <-order)
	}
	if got[0] != 1 || got[1] != 5 || got[2] != 0 {
		t.Errorf("slots granted in priority order %v, want [1 5 0]", got)
	}
}

// A waiter that gives up leaves the queue and does not keep a slot.
func TestSlotsCancelledWaiterLeaves(t *testing.T) {
	s := NewSlots(1)
	hold, _ := s.acquire(t.Context(), 1)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full Slots with an expiring context = %v", err)
	}
	hold()
	release, err := s.acquire(t.Context(), 1)
	if err != nil {
		t.Fatalf("the slot was lost to the cancelled waiter: %v", err)
	}
	release()
}
