package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sward-iot/sward/edge/broker"
	"github.com/sward-iot/sward/edge/stream"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/internal/testutil/testlog"
	"github.com/sward-iot/sward/shared/ipc"
)

// waitTimeout bounds every wait; generous for -race on a loaded machine,
// never reached when things work.
const waitTimeout = 60 * time.Second

// testStatusSubject is where tests collect status records.
const testStatusSubject = "test.export.status"

// startBroker starts a loopback broker with JetStream on storeDir
// (testutil.Serve: a crash test's child process has no testing.TB) and
// returns a JetStream handle on it; stop shuts it down.
func startBroker(storeDir string, log *slog.Logger) (js jetstream.JetStream, stop func(), err error) {
	b, err := broker.New(broker.Options{NATSListen: "127.0.0.1:-1", StoreDir: storeDir,
		Users: []broker.User{{Name: "nucleus", Password: "nucleus-secret"}}, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	stopBroker, err := testutil.Serve(b)
	if err != nil {
		return nil, nil, err
	}
	nc, err := b.Connect("nucleus")
	if err == nil {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		stopBroker()
		return nil, nil, err
	}
	return js, func() { nc.Close(); stopBroker() }, nil
}

// testBroker is startBroker for in-process tests, stopped when t ends.
func testBroker(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, stop, err := startBroker(filepath.Join(t.TempDir(), "jetstream"), testlog.New(t))
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(stop)
	return js
}

// jsStreamName and streamSubject are where the stream manager keeps a
// message stream, so the exporters are tested on the layout they will read.
func jsStreamName(name string) string { return stream.JetStreamName(name) }

func streamSubject(name string) string { return stream.Subject(name) }

// ensureStreams creates the message stream and the status stream.
func ensureStreams(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: jsStreamName(name), Subjects: []string{streamSubject(name)}, Storage: jetstream.FileStorage, AllowDirect: true,
	})
	if err != nil {
		return nil, err
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "test_status", Subjects: []string{testStatusSubject}, Storage: jetstream.FileStorage,
	})
	return s, err
}

// payload is the test payload of message seq, padded to size bytes.
func payload(seq uint64, size int) []byte {
	p := []byte(fmt.Sprintf("message-%d;", seq))
	for len(p) < size {
		p = append(p, 'x')
	}
	return p
}

// appendMessages publishes messages until the stream holds n, each of
// size bytes.
func appendMessages(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, name string, n, size int) error {
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	for seq := info.State.LastSeq + 1; seq <= uint64(n); seq++ {
		if _, err := js.Publish(ctx, streamSubject(name), payload(seq, size)); err != nil {
			return err
		}
	}
	return nil
}

func statusPublisher(js jetstream.JetStream) func(context.Context, []byte) error {
	return func(ctx context.Context, rec []byte) error {
		_, err := js.Publish(ctx, testStatusSubject, rec)
		return err
	}
}

// statusRecords reads every status record so far.
func statusRecords(t *testing.T, js jetstream.JetStream) []ipc.ExportAttempt {
	t.Helper()
	ctx := t.Context()
	s, err := js.Stream(ctx, "test_status")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []ipc.ExportAttempt
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var a ipc.ExportAttempt
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("status record %d is not an ExportAttempt: %v: %s", seq, err, m.Data)
		}
		out = append(out, a)
	}
	return out
}

// exportedUpTo waits until every export of r has exported up to last.
func exportedUpTo(t *testing.T, r *Runner, last int64) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("exported up to %d", last), func() error {
		for _, s := range r.Status() {
			if s.LastExportedSequenceNumber < last {
				return fmt.Errorf("%s at %d (error %q)", s.ExportConfigIdentifier, s.LastExportedSequenceNumber, s.ErrorMessage)
			}
		}
		return nil
	})
}

// --- moto_server, one per test binary, started on first use ---

var moto struct {
	once sync.Once
	m    *testutil.Moto
	err  error
}

// motoURL starts moto_server (once) and returns its URL. TestMain stops it.
func motoURL(t testing.TB) string {
	t.Helper()
	moto.once.Do(func() { moto.m, moto.err = testutil.StartMoto() })
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.m.URL
}

func stopMoto() {
	if moto.m != nil {
		moto.m.Stop()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	code := m.Run()
	stopMoto()
	os.Exit(code)
}

var nameSeq atomic.Int64

// uniqueName makes bucket and Kinesis stream names unique within the
// moto_server of this test binary, also under -count=N.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameSeq.Add(1))
}

// awsConfig is the configuration tests give the exporters and use
// themselves to look at moto.
func awsConfig() aws.Config {
	return aws.Config{
		Region:      testutil.MotoRegion,
		Credentials: credentials.NewStaticCredentialsProvider(testutil.MotoCredentials, testutil.MotoCredentials, ""),
	}
}

func s3Client(endpoint string) *s3.Client {
	return s3.NewFromConfig(awsConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

func kinesisClient(endpoint string) *kinesis.Client {
	return kinesis.NewFromConfig(awsConfig(), func(o *kinesis.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func createBucket(t testing.TB, endpoint, bucket string) {
	t.Helper()
	if _, err := s3Client(endpoint).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

func createKinesisStream(t testing.TB, endpoint, name string, shards int32) {
	t.Helper()
	c := kinesisClient(endpoint)
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("create Kinesis stream %s: %v", name, err)
	}
	testutil.Eventually(t, "Kinesis stream active", func() error {
		out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return err
		}
		if out.StreamDescriptionSummary.StreamStatus != ktypes.StreamStatusActive {
			return fmt.Errorf("status %s", out.StreamDescriptionSummary.StreamStatus)
		}
		return nil
	})
}

// s3Object is one exported object.
type s3Object struct {
	key         string
	first, last uint64
	multipart   bool
	messages    []ipc.Message
}

// s3Objects lists and reads every object under prefix.
func s3Objects(t *testing.T, endpoint, bucket, prefix string) []s3Object {
	t.Helper()
	c := s3Client(endpoint)
	ctx := t.Context()
	var out []s3Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			var first, last uint64
			base := key[strings.LastIndexByte(key, '/')+1:]
			if _, err := fmt.Sscanf(base, "%d-%d.jsonl", &first, &last); err != nil {
				t.Fatalf("object key %q does not end in <first>-<last>.jsonl", key)
			}
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			so := s3Object{key: key, first: first, last: last, multipart: strings.Contains(aws.ToString(o.ETag), "-")}
			dec := json.NewDecoder(strings.NewReader(string(body)))
			for dec.More() {
				var m ipc.Message
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("object %s: %v", key, err)
				}
				so.messages = append(so.messages, m)
			}
			out = append(out, so)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out
}

// checkS3ExactlyOnce checks that the objects cover 1..n without overlap and
// hold every message once, with its payload.
func checkS3ExactlyOnce(t *testing.T, objs []s3Object, n, size int) {
	t.Helper()
	next := uint64(1)
	for _, o := range objs {
		if o.first != next {
			t.Errorf("object %s starts at %d, want %d (objects must not overlap or leave gaps)", o.key, o.first, next)
		}
		next = o.last + 1
		for i, m := range o.messages {
			want := o.first + uint64(i)
			if uint64(m.SequenceNumber) != want {
				t.Errorf("object %s line %d: sequence %d, want %d", o.key, i, m.SequenceNumber, want)
			}
			if string(m.Payload) != string(payload(want, size)) {
				t.Errorf("object %s: payload of %d differs", o.key, want)
			}
		}
		if len(o.messages) != int(o.last-o.first+1) {
			t.Errorf("object %s holds %d messages, want %d", o.key, len(o.messages), o.last-o.first+1)
		}
	}
	if next != uint64(n)+1 {
		t.Errorf("objects end at %d, want %d", next-1, n)
	}
}

// kinesisSequences reads every record of the Kinesis stream from
// TRIM_HORIZON and counts the stream sequence numbers in their partition
// keys, checking the data matches.
func kinesisSequences(t *testing.T, endpoint, name string, size int) map[uint64]int {
	t.Helper()
	c := kinesisClient(endpoint)
	ctx := t.Context()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[uint64]int{}
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				pk := aws.ToString(r.PartitionKey)
				seq, err := strconv.ParseUint(pk[strings.LastIndexByte(pk, '.')+1:], 10, 64)
				if err != nil {
					t.Fatalf("partition key %q has no sequence number", pk)
				}
				if string(r.Data) != string(payload(seq, size)) {
					t.Errorf("record %s: data is not message %d's payload", pk, seq)
				}
				counts[seq]++
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return counts
}

// checkCountsOnce checks that counts holds 1..n exactly once each.
func checkCountsOnce(t *testing.T, what string, counts map[uint64]int, n int) {
	t.Helper()
	var missing, dup []uint64
	for seq := uint64(1); seq <= uint64(n); seq++ {
		switch c := counts[seq]; {
		case c == 0:
			missing = append(missing, seq)
		case c > 1:
			dup = append(dup, seq)
		}
	}
	if len(counts) > n {
		t.Errorf("%s: %d distinct sequences, want %d", what, len(counts), n)
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Errorf("%s: missing %v, duplicated %v", what, missing, dup)
	}
}
